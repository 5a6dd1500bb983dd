/**
 * The sockets of one peer id. A newer introduction socket takes over (introductions go to it),
 * and a peer id holds at most maxSocketsPerPeer of them: its record is one item of at most
 * 400 KB. The protocol has no authentication, so anyone may open sockets under any id; at the
 * bound only a socket that is gone or idle makes room, so that nobody can close a peer's active
 * socket by opening sockets. When every socket is active, the newcomer is refused (429).
 * See docs/protocol.md, "Sockets per peer id".
 */
import { PAIRING_GRACE_MS, type Context } from './context.js';
import { SOCKET_IDLE_SECONDS } from './limits.js';
import { retryUntil } from './retry.js';
import { mapLimit } from './util.js';

/** A newcomer's handshake refused at the bound: the status and the reason API Gateway returns. */
export interface SocketRefusal {
  statusCode: 429;
  reason: string;
}

/** At $connect: the socket becomes its peer id's current one; the peer keeps its keys. */
export async function openIntroduction(
  ctx: Context,
  connectionId: string,
  peerId: string,
  connectedAt: number,
): Promise<SocketRefusal | undefined> {
  await ctx.store.connections.putConnection({
    kind: 'introduction',
    connectionId,
    peerId,
    connectedAt,
  });
  if ((await registerSocket(ctx, peerId, connectionId)) === 'full') {
    // Refused at $connect, the socket never opens: no $disconnect will remove its record.
    await ctx.store.connections.removeConnection(connectionId);
    const { maxSocketsPerPeer } = ctx.limits;
    ctx.log.warn('introduction socket refused: every socket of its peer id is active', {
      peerId,
      maxSocketsPerPeer,
    });
    return {
      statusCode: 429,
      reason:
        `this peer id has ${maxSocketsPerPeer} open introduction sockets, all active: ` +
        'close one or try again later',
    };
  }
  ctx.log.info('introduction socket open', { peerId });
  return undefined;
}

/**
 * Registers a socket with its peer id, trying again when a concurrent change came first. At the
 * bound a gone or idle socket is evicted to make room; 'full' when every socket is active, and
 * then nothing was written.
 */
export async function registerSocket(
  ctx: Context,
  peerId: string,
  connectionId: string,
): Promise<'registered' | 'full'> {
  const { maxSocketsPerPeer } = ctx.limits;
  for (let evicted = 0, raced = 0; evicted < REGISTER_TRIES && raced < REGISTER_TRIES;) {
    const registration = await ctx.store.peers.registerSocket(
      peerId,
      connectionId,
      maxSocketsPerPeer,
    );
    if (registration === 'registered') return 'registered';
    if (registration === 'raced') {
      raced++;
      continue;
    }
    raced = 0;
    const spare = await spareSocket(ctx, registration.full);
    if (!spare) return 'full';
    await ctx.store.peers.evictSocket(peerId, spare.connectionId);
    ctx.log.info('too many sockets for one peer id: one gone or idle makes room', {
      peerId,
      maxSocketsPerPeer,
      evictedConnectionId: spare.connectionId,
      idleMs: spare.idleMs,
    });
    await forget(ctx, spare.connectionId, spare.idleMs === undefined);
    evicted++;
  }
  throw new Error(`could not register socket for peer ${peerId}`);
}

/**
 * Registering gives up after this many evictions, or this many races in a row with concurrent
 * changes (each attempt after an eviction may race as many times again).
 */
const REGISTER_TRIES = 5;

/**
 * Closes an evicted socket (one already gone only loses its record). Out of the set it gets no
 * more introductions and its late $disconnect changes nothing, so a failed close is only logged.
 */
async function forget(ctx: Context, connectionId: string, gone: boolean): Promise<void> {
  try {
    if (gone || (await ctx.messenger.close(connectionId)) === 'gone')
      await ctx.store.connections.removeConnection(connectionId);
  } catch (error) {
    ctx.log.warn('could not close an evicted socket of a peer id', { error });
  }
}

/**
 * The socket that may make room: one gone (API Gateway answers 410 and its $connect is long
 * over), else the one idle longest past SOCKET_IDLE_SECONDS (idleMs set); none when all are
 * active. Read only at the bound: one GetConnection per socket.
 */
async function spareSocket(
  ctx: Context,
  sockets: readonly string[],
): Promise<{ connectionId: string; idleMs?: number } | undefined> {
  const now = ctx.now();
  const seen = await mapLimit(sockets, 8, async (connectionId) => ({
    connectionId,
    lastActiveAt: await retryUntil(ctx, now + LOOKUP_PATIENCE_MS, 'reading a socket', () =>
      ctx.messenger.lastActiveAt(connectionId),
    ),
  }));
  for (const { connectionId, lastActiveAt } of seen) {
    if (lastActiveAt !== 'gone') continue;
    // A 410 also answers a socket still inside its $connect (up to 29 s): its record tells.
    const record = await ctx.store.connections.getConnection(connectionId);
    if (!record || now - record.connectedAt > PAIRING_GRACE_MS) return { connectionId };
  }
  let idlest: { connectionId: string; idleMs: number } | undefined;
  for (const { connectionId, lastActiveAt } of seen) {
    if (lastActiveAt === 'gone') continue;
    const idleMs = now - lastActiveAt;
    if (idleMs > SOCKET_IDLE_SECONDS * 1000 && idleMs > (idlest?.idleMs ?? 0))
      idlest = { connectionId, idleMs };
  }
  return idlest;
}

/** How long asking API Gateway about a peer id's sockets may take within a $connect. */
const LOOKUP_PATIENCE_MS = 2_000;

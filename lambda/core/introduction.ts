/**
 * Introduction sockets (PROTOCOL.md): each peer id has a key set; a message that joins keys
 * introduces the sender and every peer sharing one of them to each other, both ways, with the
 * full list of shared keys.
 */
import {
  applyKeyChange,
  errorReply,
  introduction,
  parseKeyChange,
  sharedKeys,
  type ServerMessage,
} from './protocol.js';
import { PAIRING_GRACE_MS, type Context } from './context.js';
import { whenReady } from './messenger.js';
import { mayBeConnecting } from './relay.js';
import type { IntroductionConnection, PeerRecord } from './store.js';
import { mapLimit } from './util.js';

/** At $connect: the socket becomes its peer id's current one; the peer keeps its keys. */
export async function openIntroduction(
  ctx: Context,
  connectionId: string,
  peerId: string,
  connectedAt: number,
): Promise<void> {
  await ctx.store.putConnection({ kind: 'introduction', connectionId, peerId, connectedAt });
  await ctx.store.registerSocket(peerId, connectionId);
  ctx.log.info('introduction socket open', { peerId });
}

const send = (ctx: Context, connectionId: string, message: ServerMessage) =>
  ctx.messenger.post(connectionId, JSON.stringify(message));

/** A Join/Leave frame. Bad input changes nothing and is answered with an Error frame. */
export async function onIntroductionMessage(
  ctx: Context,
  socket: IntroductionConnection,
  body: string | undefined,
): Promise<void> {
  const { connectionId, peerId } = socket;
  const reject = async (error: string) => {
    ctx.log.info('introduction message refused', { peerId, reason: error });
    await send(ctx, connectionId, errorReply(error));
  };
  const parsed = parseKeyChange(body, ctx.limits);
  if (!parsed.ok) return reject(parsed.error);
  const change = parsed.value;
  const { maxKeysPerPeer, maxFanOut } = ctx.limits;

  const update = (keys: readonly string[]) => {
    const next = applyKeyChange(keys, change);
    return next.length > maxKeysPerPeer
      ? { error: `a peer may hold at most ${maxKeysPerPeer} keys` }
      : next;
  };
  // Index the joined keys before writing the key set: a peer must never hold a key that no index
  // entry leads to (had indexing failed after the write, later joiners would never find it). An
  // entry for a key the peer does not hold is harmless: readers check the peer's record.
  const indexJoined = async (before: PeerRecord, next: string[]) => {
    const keys = [...new Set(change.join)].filter((key) => next.includes(key));
    if (keys.length > 0)
      await ctx.store.indexKeys(peerId, before.session, keys, before.version + 1);
  };
  let changed = await ctx.store.changeKeys(peerId, update, indexJoined);
  if (changed === undefined) {
    // The peer's record expired or was removed while this socket lives: register it again.
    await ctx.store.registerSocket(peerId, connectionId);
    changed = await ctx.store.changeKeys(peerId, update, indexJoined);
  }
  if (changed === undefined) throw new Error(`peer ${peerId} has no record`);
  if ('error' in changed) return reject(changed.error);
  const { peer, previous } = changed;

  const left = previous.filter((key) => !peer.keys.includes(key));
  if (left.length > 0) await ctx.store.unindexKeys(peerId, peer.session, left, peer.version);
  const joined = [...new Set(change.join)].filter((key) => peer.keys.includes(key));
  if (joined.length === 0) return;
  // Indexed first, then look: of two peers joining one key at once, one always sees the other.
  const candidates = new Set<string>();
  // Two past the limit: the sender's own entry (indexed already) and one to know there are more.
  for (const ids of await mapLimit(joined, 8, (key) => ctx.store.peersWithKey(key, maxFanOut + 2)))
    for (const id of ids) if (id !== peerId) candidates.add(id);

  const others = await ctx.store.getPeers([...candidates].slice(0, maxFanOut));
  // Index entries may be stale (a key left since): only peers holding a joined key now count.
  const pairs = others
    .filter((other) => joined.some((key) => other.keys.includes(key)))
    .map((other) => ({ other, keys: sharedKeys(peer.keys, other.keys) }));

  let senderGone = false;
  // One pair failing (the management API throttling past the SDK's retries) must not cost the
  // others their introductions: every pair is tried, then the first failure is reported.
  let failed: { error: unknown } | undefined;
  await mapLimit(pairs, 16, async ({ other, keys }) => {
    try {
      if ((await sendToPeer(ctx, other.current, introduction(peerId, keys))) === 'gone') {
        // The other peer's socket is gone: forget it, and introduce nobody to it.
        ctx.metrics.count('Gone');
        await dropIntroductionSocket(ctx, other.current, other.peerId);
        return;
      }
      ctx.metrics.count('Introductions');
      if (senderGone) return;
      if ((await send(ctx, connectionId, introduction(other.peerId, keys))) === 'gone')
        senderGone = true;
      else ctx.metrics.count('Introductions');
    } catch (error) {
      failed ??= { error };
    }
  });
  ctx.log.info('introduced', { peerId, peers: pairs.length, joined: joined.length });
  if (candidates.size > maxFanOut)
    await reject(
      `more than ${maxFanOut} peers share these keys: introduced ${maxFanOut} of them; ` +
        'the others will introduce themselves when they join',
    );
  if (failed) throw failed.error;
}

/**
 * Sends to another peer's current socket. A socket still inside its $connect (a peer id that
 * reconnected a moment ago) answers 410 until its $connect returns: that is retried briefly,
 * never taken for gone.
 */
const sendToPeer = (ctx: Context, connectionId: string, message: ServerMessage) =>
  whenReady(
    () => send(ctx, connectionId, message),
    ctx.now() + PAIRING_GRACE_MS,
    ctx.now,
    mayBeConnecting(ctx, connectionId),
  );

/** At $disconnect: the socket leaves its peer; the last socket of a peer id forgets its keys. */
export async function closeIntroduction(
  ctx: Context,
  socket: IntroductionConnection,
): Promise<void> {
  const forgotten = await ctx.store.unregisterSocket(socket.peerId, socket.connectionId);
  ctx.log.info('introduction socket closed', {
    peerId: socket.peerId,
    forgotten: forgotten?.length ?? 0,
  });
}

/** A socket that answered 410: forget it as if it had disconnected. */
async function dropIntroductionSocket(ctx: Context, connectionId: string, peerId: string) {
  await ctx.store.removeConnection(connectionId);
  await ctx.store.unregisterSocket(peerId, connectionId);
  ctx.log.info('stale introduction socket removed', { staleConnectionId: connectionId, peerId });
}

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
  type KeyChange,
  type ServerMessage,
} from './protocol.js';
import type { Context } from './context.js';
import { postWhenReady } from './readiness.js';
import type { IntroductionConnection, PeerRecord } from './store.js';
import { contentionPause, KEY_CHANGE_ATTEMPTS, mapLimit } from './util.js';

/** At $connect: the socket becomes its peer id's current one; the peer keeps its keys. */
export async function openIntroduction(
  ctx: Context,
  connectionId: string,
  peerId: string,
  connectedAt: number,
): Promise<void> {
  await ctx.store.putConnection({ kind: 'introduction', connectionId, peerId, connectedAt });
  await registerSocket(ctx, peerId, connectionId);
  ctx.log.info('introduction socket open', { peerId });
}

/**
 * Registers a socket with its peer id. A peer id has at most maxSocketsPerPeer sockets (its
 * record is one item of at most 400 KB): at the bound the oldest socket is closed and forgotten.
 */
async function registerSocket(ctx: Context, peerId: string, connectionId: string) {
  const { maxSocketsPerPeer } = ctx.limits;
  for (let attempt = 0; attempt < 5; attempt++) {
    const full = await ctx.store.registerSocket(peerId, connectionId, maxSocketsPerPeer);
    if (!full) return;
    const oldest = await oldestSocket(ctx, full.full);
    await ctx.store.evictSocket(peerId, oldest);
    ctx.log.info('too many sockets for one peer id: the oldest is closed', {
      peerId,
      maxSocketsPerPeer,
      closedConnectionId: oldest,
    });
    // Its $disconnect, if it ever comes, finds it out of the set and changes nothing. Out of the
    // set it gets no more introductions, so a close that fails is only logged.
    try {
      if ((await ctx.messenger.close(oldest)) === 'gone') await ctx.store.removeConnection(oldest);
    } catch (error) {
      ctx.log.warn('could not close the oldest socket of a peer id', { error });
    }
  }
  throw new Error(`could not register socket for peer ${peerId}`);
}

/** The socket that connected first; one without a record (it vanished) comes before all. */
async function oldestSocket(ctx: Context, sockets: readonly string[]): Promise<string> {
  const records = await mapLimit(sockets, 8, (id) => ctx.store.getConnection(id));
  const connectedAt = (index: number) => records[index]?.connectedAt ?? -Infinity;
  let oldest = 0;
  for (let index = 1; index < sockets.length; index++)
    if (connectedAt(index) < connectedAt(oldest)) oldest = index;
  return sockets[oldest]!;
}

/**
 * Introduction posts in flight at once per message: 1,000 peers (2,000 posts at ~75 ms each)
 * take about 2.5 s, well within the route's 10 s (npm run bench measures it).
 */
export const INTRODUCTION_CONCURRENCY = 64;

const send = (ctx: Context, connectionId: string, message: ServerMessage) =>
  ctx.messenger.post(connectionId, JSON.stringify(message));

/**
 * A Join/Leave frame. Bad input changes nothing and is answered with an Error frame. Never
 * throws: a failure (DynamoDB or the management API past their retries) is answered with an
 * Error frame too, never API Gateway's internal-error frame.
 */
export async function onIntroductionMessage(
  ctx: Context,
  socket: IntroductionConnection,
  body: string | undefined,
): Promise<void> {
  try {
    await handleIntroductionMessage(ctx, socket, body);
  } catch (error) {
    ctx.metrics.count('Errors');
    ctx.log.error('introduction message failed', { error });
    try {
      await send(ctx, socket.connectionId, errorReply(MESSAGE_FAILED));
    } catch (replyError) {
      ctx.log.error('could not report the failure to the sender', { error: replyError });
    }
  }
}

/** What a sender is told when its message failed on the server's side. */
export const MESSAGE_FAILED = 'the server could not handle this message: send it again';

async function handleIntroductionMessage(
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
  const { maxFanOut } = ctx.limits;

  let changed = await changeKeySet(ctx, peerId, change);
  if (changed === undefined) {
    // The peer's record expired or was removed while this socket lives: register it again.
    await registerSocket(ctx, peerId, connectionId);
    changed = await changeKeySet(ctx, peerId, change);
  }
  if (changed === undefined) throw new Error(`peer ${peerId} has no record`);
  if ('error' in changed) return reject(changed.error);
  const { peer, previous } = changed;

  const left = previous.filter((key) => !peer.keys.includes(key));
  if (left.length > 0) await ctx.store.unindexKeys(peerId, peer.session, left, peer.version);
  const joined = [...new Set(change.join)].filter((key) => peer.keys.includes(key));
  if (joined.length === 0) return;
  const { others, sharing } = await recentJoiners(ctx, peerId, joined);
  const pairs = others.map((other) => ({ other, keys: sharedKeys(peer.keys, other.keys) }));
  const failed = await introducePairs(ctx, socket, pairs);
  ctx.log.info('introduced', { peerId, peers: pairs.length, joined: joined.length });
  if (sharing > maxFanOut)
    await reject(
      `more than ${maxFanOut} peers share these keys: introduced the ${maxFanOut} that joined ` +
        'them most recently; peers that join them later are introduced to this one in turn',
    );
  if (failed) throw failed.error;
}

/**
 * Applies a Join/Leave to the peer's key set with optimistic concurrency: messages of one socket
 * may be handled concurrently, and no change may be lost. Undefined when the peer has no record.
 */
async function changeKeySet(
  ctx: Context,
  peerId: string,
  change: KeyChange,
): Promise<{ peer: PeerRecord; previous: string[] } | { error: string } | undefined> {
  const { maxKeysPerPeer } = ctx.limits;
  for (let attempt = 0; attempt < KEY_CHANGE_ATTEMPTS; attempt++) {
    const peer = await ctx.store.getPeer(peerId);
    if (!peer) return undefined;
    const next = applyKeyChange(peer.keys, change);
    if (next.length > maxKeysPerPeer)
      return { error: `a peer may hold at most ${maxKeysPerPeer} keys` };
    // Index the joined keys before writing the key set: a peer must never hold a key that no
    // index entry leads to. An entry for a key the peer does not hold is harmless: readers check
    // the peer's record.
    const joined = [...new Set(change.join)].filter((key) => next.includes(key));
    if (joined.length > 0)
      await ctx.store.indexKeys(peerId, peer.session, joined, peer.version + 1);
    const written = await ctx.store.setKeys(peer, next);
    if (written) return { peer: written, previous: peer.keys };
    await contentionPause(attempt);
  }
  throw new Error(`key set of peer ${peerId} kept changing`);
}

/**
 * The peers to introduce for keys just joined, and how many share them. Indexed first, then
 * look: of two peers joining one key at once, one always sees the other. Past maxFanOut, the
 * peers that joined these keys most recently are introduced: each peer then meets the maxFanOut
 * that joined before it and, in turn, those that join after it.
 */
async function recentJoiners(
  ctx: Context,
  peerId: string,
  joined: readonly string[],
): Promise<{ others: PeerRecord[]; sharing: number }> {
  const { maxFanOut } = ctx.limits;
  const joinedAt = new Map<string, number>();
  for (const joiners of await mapLimit(joined, 8, (key) => ctx.store.joinersOfKey(key)))
    for (const joiner of joiners)
      if (joiner.peerId !== peerId)
        joinedAt.set(joiner.peerId, Math.max(joinedAt.get(joiner.peerId) ?? 0, joiner.joinedAt));
  const recent = [...joinedAt.keys()].sort((a, b) => joinedAt.get(b)! - joinedAt.get(a)!);
  // A few more than the limit: index entries may be stale, and those are skipped.
  const others = (await ctx.store.getPeers(recent.slice(0, maxFanOut + STALE_ALLOWANCE)))
    // Index entries may be stale (a key left since): only peers holding a joined key now count.
    .filter((other) => joined.some((key) => other.keys.includes(key)))
    .sort((a, b) => joinedAt.get(b.peerId)! - joinedAt.get(a.peerId)!)
    .slice(0, maxFanOut);
  return { others, sharing: joinedAt.size };
}

/**
 * Introduces each pair both ways. One pair failing (the management API throttling past the SDK's
 * retries) must not cost the others their introductions: every pair is tried, and the first
 * failure is returned.
 */
async function introducePairs(
  ctx: Context,
  { connectionId, peerId }: IntroductionConnection,
  pairs: readonly { other: PeerRecord; keys: string[] }[],
): Promise<{ error: unknown } | undefined> {
  let senderGone = false;
  let failed: { error: unknown } | undefined;
  await mapLimit(pairs, INTRODUCTION_CONCURRENCY, async ({ other, keys }) => {
    try {
      // Its socket may still be inside its $connect (a peer id that reconnected a moment ago).
      const told = await postWhenReady(
        ctx,
        other.current,
        JSON.stringify(introduction(peerId, keys)),
      );
      if (told === 'gone') {
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
  return failed;
}

/** How many index entries past maxFanOut are read, in case some are stale. */
const STALE_ALLOWANCE = 8;

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

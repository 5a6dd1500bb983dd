/**
 * Introduction sockets (docs/protocol.md): each peer id has a key set; a message that joins keys
 * introduces the sender and every peer sharing one of them to each other, both ways, with the
 * full list of shared keys.
 */
import { randomUUID } from 'node:crypto';
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
import { registerSocket } from './peer-sockets.js';
import { postWhenReady } from './readiness.js';
import { retryUntil } from './retry.js';
import type { IntroductionConnection, PeerRecord } from './store.js';
import { mapLimit, sleep } from './util.js';

/**
 * Introduction posts in flight at once per message: 1,000 peers (2,000 posts at ~75 ms each)
 * take about 2.5 s, well within the route's 10 s (npm run bench measures it).
 */
export const INTRODUCTION_CONCURRENCY = 64;

const send = (ctx: Context, connectionId: string, message: ServerMessage) =>
  ctx.messenger.post(connectionId, JSON.stringify(message));

/**
 * A Join/Leave frame. Bad input changes nothing and is answered with an Error frame. Never
 * throws. A failure on the server's side (DynamoDB throttling in a reconnect storm, say) is
 * retried within the route's budget; past it the sender is told, and its socket is closed:
 * cevitxe-signal-client ignores Error frames, but reconnects and joins again when its
 * introduction socket closes.
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
    ctx.log.error('introduction message failed: its socket is closed so that its client rejoins', {
      error,
    });
    await giveUp(ctx, socket.connectionId, MESSAGE_FAILED);
  }
}

/** What a sender is told when its message failed on the server's side, before its socket closes. */
export const MESSAGE_FAILED =
  'the server could not handle this message: this socket closes; reconnect and send it again';

/** What a joiner is told when the stage's introduction budget is spent, before its socket closes. */
export const INTRODUCTIONS_DEFERRED =
  "the server's introductions for this minute are spent: this socket closes; reconnect and join " +
  'again to be introduced';

/** Tells the sender why its message was not served, then closes its socket; both best effort. */
async function giveUp(ctx: Context, connectionId: string, why: string): Promise<void> {
  try {
    await send(ctx, connectionId, errorReply(why));
  } catch (error) {
    ctx.log.error('could not report the failure to the sender', { error });
  }
  try {
    await retryUntil(ctx, ctx.now() + CLOSE_PATIENCE_MS, 'closing a socket', () =>
      ctx.messenger.close(connectionId),
    );
  } catch (error) {
    ctx.log.error('could not close the socket of a failed message', { error });
  }
}

/** How long closing the socket of a failed message may take: within the route's timeout. */
const CLOSE_PATIENCE_MS = 2_000;

/**
 * How long a message's store steps are retried: one SDK call throttled on every attempt takes
 * about 4 s, so this allows a retry after it, and leaves the route's 10 s timeout room for the
 * fan-out (2.7 s for 1,000 peers) and the close.
 */
export const JOIN_RETRY_MS = 6_000;

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
  // Each step is idempotent, so each is retried on its own, for JOIN_RETRY_MS in all.
  const until = ctx.now() + JOIN_RETRY_MS;
  const retried = <T>(what: string, work: () => Promise<T>) => retryUntil(ctx, until, what, work);
  const stamp = { at: ctx.now(), by: randomUUID() };

  const changed = await retried('changing a key set', () =>
    changeOrRegister(ctx, socket, change, stamp),
  );
  if ('error' in changed) return reject(changed.error);
  const { peer, previous, introduce } = changed;

  const left = previous.filter((key) => !peer.keys.includes(key));
  if (left.length > 0)
    await retried('unindexing left keys', () =>
      ctx.store.peers.unindexKeys(peerId, peer.session, left, peer.version),
    );
  if (introduce.length === 0) return;
  const { recent, joinedAt } = await retried('finding the peers to introduce', () =>
    recentJoiners(ctx, peerId, introduce),
  );
  // Budgeted before the peers' records are read: a Join it refuses costs no fan-out of reads.
  const fanOut = Math.min(recent.length, maxFanOut);
  const budgeted =
    fanOut === 0 ||
    (await retried('spending the introduction budget', () =>
      ctx.store.budget.spendIntroductions(
        2 * fanOut,
        ctx.limits.introductionPostsPerMinute,
        ctx.now(),
      ),
    ));
  if (!budgeted) return deferIntroductions(ctx, socket, fanOut);
  const others = await retried('reading the peers to introduce', () =>
    holdersOf(ctx, recent, joinedAt, introduce),
  );
  const sharing = joinedAt.size;
  const pairs = others.map((other) => ({ other, keys: sharedKeys(peer.keys, other.keys) }));
  const failed = await introducePairs(ctx, socket, pairs);
  ctx.log.info('introduced', { peerId, peers: pairs.length, joined: introduce.length });
  if (sharing > maxFanOut)
    await reject(
      `more than ${maxFanOut} peers share these keys: introduced the ${maxFanOut} that joined ` +
        'them most recently; peers that join them later are introduced to this one in turn',
    );
  if (failed) throw failed.error;
}

/**
 * The stage's introduction budget is spent (a Join flood, most likely): this Join's keys are
 * held, so peers that join them later meet this one, but its own fan-out waits. Its socket is
 * closed, as for a failed message: the client reconnects and joins again, and a new socket's
 * first Join introduces once the budget has room.
 */
async function deferIntroductions(
  ctx: Context,
  { connectionId, peerId }: IntroductionConnection,
  peers: number,
): Promise<void> {
  ctx.metrics.count('IntroductionsDeferred');
  ctx.log.warn('introduction budget spent: the joiner is closed to join again later', {
    peerId,
    peers,
  });
  await giveUp(ctx, connectionId, INTRODUCTIONS_DEFERRED);
}

/** How many times an optimistic write of a peer's key set is tried against concurrent changes. */
const KEY_CHANGE_ATTEMPTS = 20;

/** After a few lost optimistic writes, a short random pause spreads the writers apart. */
async function contentionPause(attempt: number): Promise<void> {
  if (attempt > 2) await sleep(Math.random() * 10 * attempt);
}

type KeySetChange = { peer: PeerRecord; previous: string[]; introduce: string[] };

/** Applies the change; a peer whose record expired while its socket lives registers again. */
async function changeOrRegister(
  ctx: Context,
  socket: IntroductionConnection,
  change: KeyChange,
  stamp: Stamp,
): Promise<KeySetChange | { error: string }> {
  let changed = await changeKeySet(ctx, socket, change, stamp);
  if (changed === undefined) {
    if ((await registerSocket(ctx, socket.peerId, socket.connectionId)) === 'full')
      throw new Error(`peer ${socket.peerId} has no record and no room for its socket`);
    changed = await changeKeySet(ctx, socket, change, stamp);
  }
  if (changed === undefined) throw new Error(`peer ${socket.peerId} has no record`);
  return changed;
}

/** When this message introduces, and a token that tells its own retry its own write. */
type Stamp = { at: number; by: string };

/**
 * Applies a Join/Leave to the peer's key set with optimistic concurrency: messages of one socket
 * may be handled concurrently, and no change may be lost. `introduce` is the keys to introduce
 * for: empty when the message joins nothing, or only re-joins within the budget (see
 * reintroduces). Undefined when the peer has no record.
 */
async function changeKeySet(
  ctx: Context,
  { peerId, connectionId }: IntroductionConnection,
  change: KeyChange,
  stamp: Stamp,
): Promise<KeySetChange | { error: string } | undefined> {
  const { maxKeysPerPeer } = ctx.limits;
  for (let attempt = 0; attempt < KEY_CHANGE_ATTEMPTS; attempt++) {
    const peer = await ctx.store.peers.getPeer(peerId);
    if (!peer) return undefined;
    const next = applyKeyChange(peer.keys, change);
    if (next.length > maxKeysPerPeer)
      return { error: `a peer may hold at most ${maxKeysPerPeer} keys` };
    const joined = [...new Set(change.join)].filter((key) => next.includes(key));
    const introduces = joined.length > 0 && reintroduces(ctx, peer, joined, connectionId, stamp);
    const unchanged = next.length === peer.keys.length && next.every((k, i) => k === peer.keys[i]);
    // A re-Join past the budget that changes nothing is a read, no write.
    if (!introduces && unchanged) return { peer, previous: peer.keys, introduce: [] };
    // Index the joined keys before writing the key set: a peer must never hold a key that no
    // index entry leads to. An entry for a key the peer does not hold is harmless: readers check
    // the peer's record. Keys only re-joined are indexed already.
    if (introduces) await ctx.store.peers.indexKeys(peerId, peer.session, joined, peer.version + 1);
    const introduced = introduces ? { socket: connectionId, ...stamp } : undefined;
    const written = await ctx.store.peers.setKeys(peer, next, introduced);
    if (written) return { peer: written, previous: peer.keys, introduce: introduces ? joined : [] };
    await contentionPause(attempt);
  }
  throw new Error(`key set of peer ${peerId} kept changing`);
}

/**
 * The re-introduction budget: one peer repeating a Join must not make the server post to every
 * peer sharing its keys each time. Joining a key the peer does not hold always introduces. A Join
 * of keys it holds introduces when it is the first introducing Join on this socket (a client
 * that reconnected joins all its keys on its new socket, and must meet its peers again), when
 * this same message spent the budget in an attempt whose answer was lost, or once the window
 * since the last introduction has passed.
 */
function reintroduces(
  ctx: Context,
  peer: PeerRecord,
  joined: readonly string[],
  connectionId: string,
  stamp: Stamp,
): boolean {
  if (joined.some((key) => !peer.keys.includes(key))) return true;
  if (!peer.introducedSockets.includes(connectionId)) return true;
  if (peer.reintroducedBy === stamp.by) return true;
  const windowMs = ctx.limits.reintroductionWindowSeconds * 1000;
  return stamp.at - (peer.reintroducedAt ?? -Infinity) >= windowMs;
}

/**
 * The peers that joined these keys, most recent first, and when each joined, from the key index.
 * Indexed first, then look: of two peers joining one key at once, one always sees the other.
 * Past maxFanOut, the peers that joined these keys most recently are introduced: each peer then
 * meets the maxFanOut that joined before it and, in turn, those that join after it.
 */
async function recentJoiners(
  ctx: Context,
  peerId: string,
  joined: readonly string[],
): Promise<{ recent: string[]; joinedAt: Map<string, number> }> {
  const joinedAt = new Map<string, number>();
  for (const joiners of await mapLimit(joined, 8, (key) => ctx.store.peers.joinersOfKey(key)))
    for (const joiner of joiners)
      if (joiner.peerId !== peerId)
        joinedAt.set(joiner.peerId, Math.max(joinedAt.get(joiner.peerId) ?? 0, joiner.joinedAt));
  const recent = [...joinedAt.keys()].sort((a, b) => joinedAt.get(b)! - joinedAt.get(a)!);
  return { recent, joinedAt };
}

/** The records of the most recent joiners that hold a joined key now: at most maxFanOut. */
async function holdersOf(
  ctx: Context,
  recent: readonly string[],
  joinedAt: ReadonlyMap<string, number>,
  joined: readonly string[],
): Promise<PeerRecord[]> {
  const { maxFanOut } = ctx.limits;
  // A few more than the limit: index entries may be stale, and those are skipped.
  return (await ctx.store.peers.getPeers(recent.slice(0, maxFanOut + STALE_ALLOWANCE)))
    .filter((other) => joined.some((key) => other.keys.includes(key)))
    .sort((a, b) => joinedAt.get(b.peerId)! - joinedAt.get(a.peerId)!)
    .slice(0, maxFanOut);
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
  const forgotten = await ctx.store.peers.unregisterSocket(socket.peerId, socket.connectionId);
  ctx.log.info('introduction socket closed', {
    peerId: socket.peerId,
    forgotten: forgotten?.length ?? 0,
  });
}

/** A socket that answered 410: forget it as if it had disconnected. */
async function dropIntroductionSocket(ctx: Context, connectionId: string, peerId: string) {
  await ctx.store.connections.removeConnection(connectionId);
  await ctx.store.peers.unregisterSocket(peerId, connectionId);
  ctx.log.info('stale introduction socket removed', { staleConnectionId: connectionId, peerId });
}

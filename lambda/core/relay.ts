/**
 * Relay sockets (PROTOCOL.md): `/connection/A/B/key` pairs with `/connection/B/A/key`. Frames are
 * held in DynamoDB until the deliver function has flushed them to the peer; then each goes
 * straight, with the peer cached in the warm function. See README.md, "Reliability".
 */
import { DELIVER_TIMEOUT_MS, ROUTE_WAIT_MS, type Context } from './context.js';
import type { DeliveryJob } from './delivery-invoker.js';
import type { Delivery } from './messenger.js';
import { errorReply, transportMismatch, type Transport } from './protocol.js';
import { closeWhenReady, mayBeConnecting, postWhenReady } from './readiness.js';
import { isConditionFailure, type RelayConnection } from './store.js';
import { sleep } from './util.js';

interface Pairing {
  peer: string;
  pairedAt: number;
}

/** Peers of flushed sockets, per warm function. Bounded: the oldest entries go first. */
export class PairCache {
  private readonly pairs = new Map<string, Pairing>();

  constructor(private readonly capacity = 10_000) {}

  get(connectionId: string): Pairing | undefined {
    return this.pairs.get(connectionId);
  }

  set(connectionId: string, pairing: Pairing): void {
    this.pairs.delete(connectionId);
    this.pairs.set(connectionId, pairing);
    if (this.pairs.size > this.capacity) this.pairs.delete(this.pairs.keys().next().value!);
  }

  delete(connectionId: string): void {
    this.pairs.delete(connectionId);
  }

  get size(): number {
    return this.pairs.size;
  }
}

type RelayRequest = Pick<RelayConnection, 'localId' | 'remoteId' | 'key' | 'transport'>;

/**
 * At $connect: wait for the reciprocal socket, or pair with the one already waiting. Returns why
 * the handshake must be refused with 409 (the two sockets speak different transports), if so.
 */
export async function openRelay(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  connectedAt: number,
): Promise<string | undefined> {
  if (!(await ctx.store.putConnection({ kind: 'relay', connectionId, connectedAt, ...request }))) {
    // A duplicate $connect for this socket: once paired, pairing it again would put it back in
    // the rendezvous beside its pair. Unpaired, meeting again is harmless (it is the same socket).
    const existing = await ctx.store.getConnection(connectionId);
    if (existing?.kind === 'relay' && existing.peer) {
      ctx.log.info('duplicate $connect of a paired relay socket: nothing to do');
      return undefined;
    }
  }
  try {
    return await pairOrWait(ctx, connectionId, request);
  } catch (error) {
    const claimed = error instanceof ClaimedPairingFailed ? error : undefined;
    await abandonRelay(ctx, connectionId, request, claimed?.claimed);
    throw claimed ? claimed.cause : error;
  }
}

/** Pairing failed after claiming a waiting socket, which is out of the rendezvous now. */
class ClaimedPairingFailed extends Error {
  constructor(
    readonly claimed: string,
    override readonly cause: unknown,
  ) {
    super('relay pairing failed after claiming the waiting socket', { cause });
  }
}

/**
 * Undoes a $connect that failed after recording its socket (no $disconnect will come for it): no
 * socket may stay paired with it or wait for it; one it had claimed is closed, and reconnects.
 */
async function abandonRelay(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  claimed: string | undefined,
): Promise<void> {
  try {
    await ctx.store.removeConnection(connectionId);
    await ctx.store.leaveRendezvous(request, connectionId);
    if (claimed) await closeWhenReady(ctx, claimed);
  } catch (error) {
    ctx.log.error('could not undo a failed relay $connect', { error });
  }
}

async function pairOrWait(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const met = await ctx.store.meet(request, connectionId);
    if ('waiting' in met) {
      if (met.replaced) {
        // A newer socket for the same (A, B, key) replaces the waiting one, which is closed.
        await closeWhenReady(ctx, met.replaced);
        ctx.log.info('waiting relay socket replaced', { replacedConnectionId: met.replaced });
      }
      ctx.log.info('relay socket waiting', { localId: request.localId });
      return undefined;
    }
    const outcome = await pairWithClaimed(ctx, connectionId, request, met);
    if (outcome !== 'wait in its place') return outcome.refusal;
  }
  throw new Error('relay pairing kept failing');
}

/**
 * Pairs with the socket claimed from the rendezvous; 'wait in its place' when it turned out to
 * be gone. A failure is thrown as ClaimedPairingFailed: the claimed socket is out of the
 * rendezvous, where no reciprocal socket can ever find it, so it must be closed.
 */
async function pairWithClaimed(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  met: { paired: string; transport?: Transport },
): Promise<{ refusal?: string } | 'wait in its place'> {
  const first = met.paired;
  if (!(await isWaitingAlive(ctx, first))) {
    // It vanished without $disconnect: pairing with it would leave its client's next socket
    // waiting alone. Forget it and wait in its place.
    const vanished = await ctx.store.removeConnection(first);
    if (vanished?.kind === 'relay' && vanished.seq) await ctx.store.removeHeld(first);
    ctx.metrics.count('Gone');
    ctx.log.info('waiting relay socket vanished: waiting in its place', {
      vanishedConnectionId: first,
    });
    return 'wait in its place';
  }
  try {
    const mismatch = transportMismatch(request.transport, met.transport);
    if (mismatch)
      return { refusal: await refuseMismatch(ctx, connectionId, first, met.transport, mismatch) };
    const pairedAt = ctx.now();
    const waiting = await ctx.store.setPeer(first, connectionId, pairedAt, false);
    if (!waiting) return 'wait in its place'; // it left as we claimed it
    // This socket cannot have sent anything yet (its $connect has not returned): it is flushed.
    await ctx.store.setPeer(connectionId, first, pairedAt, true);
    ctx.metrics.count('PairsMade');
    ctx.log.info('relay pair made', { peerConnectionId: first, held: waiting.seq ?? 0 });
    if (!waiting.seq && (await ctx.store.markFlushed(first, 0))) return {};
    await ctx.deliveryInvoker.deliverLater({ from: first, to: connectionId, pairedAt });
    return {};
  } catch (error) {
    throw new ClaimedPairingFailed(first, error);
  }
}

/**
 * A transport socket met a plain one (or another transport): never paired. The waiting one is
 * told why and closed; the arriving one is refused at its handshake. Returns the reason.
 */
async function refuseMismatch(
  ctx: Context,
  connectionId: string,
  waiting: string,
  waitingTransport: Transport | undefined,
  reason: string,
): Promise<string> {
  ctx.log.warn('relay sockets of a pair use different transports: not paired', {
    peerConnectionId: waiting,
    reason,
  });
  if (waitingTransport) {
    const told = JSON.stringify(errorReply(transportMismatch(waitingTransport, undefined)!));
    await postWhenReady(ctx, waiting, told);
  }
  await closeWhenReady(ctx, waiting);
  await ctx.store.removeConnection(connectionId);
  return reason;
}

/**
 * Whether a waiting socket is still there (GetConnection). A 410 from a socket that may still be
 * inside its $connect is not conclusive, and a failed check pairs as before: the first post
 * then finds out.
 */
async function isWaitingAlive(ctx: Context, connectionId: string): Promise<boolean> {
  try {
    if (await ctx.messenger.isAlive(connectionId)) return true;
    return await mayBeConnecting(ctx, connectionId);
  } catch (error) {
    ctx.log.warn('could not check the waiting relay socket: pairing with it', { error });
    return true;
  }
}

/** How long a retried call waits between attempts at most (ms). */
const MAX_RETRY_PAUSE_MS = 1_000;

/**
 * Retries a call that failed past the SDK's own retries (throttling, 5xx) with a growing pause,
 * until `until` (ms); then throws its last error. A condition failure is an answer: never retried.
 */
export async function retryUntil<T>(
  ctx: Context,
  until: number,
  what: string,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let pause = 50; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      return await attempt();
    } catch (error) {
      if (isConditionFailure(error) || ctx.now() + pause > until) throw error;
      ctx.log.warn(`${what} failed: retrying`, { error });
      await sleep(pause);
    }
  }
}

/** A route invocation's retry budget: its `waitUntil`, which leaves room before its timeout. */
const routeBudget = (ctx: Context) => ctx.waitUntil ?? ctx.now() + ROUTE_WAIT_MS;

/** A frame from a socket whose flushed pairing this warm function knows: straight to the peer. */
export const onPairedFrame = (
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  pairing: Pairing,
  body: string,
): Promise<void> =>
  passOnOrClose(ctx, cache, connectionId, pairing.peer, () =>
    forward(ctx, cache, connectionId, pairing, body),
  );

/** A frame from a socket read from the store: relay (undefined when it has no record). */
export const onRelayFrame = (
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  socket: RelayConnection | undefined,
  body: string,
  receivedAt: number,
): Promise<void> =>
  passOnOrClose(ctx, cache, connectionId, socket?.peer, () =>
    relayFrame(ctx, cache, connectionId, socket, body, receivedAt),
  );

/**
 * Never throws: API Gateway would write its internal-error frame into the sender's stream. A
 * frame that cannot be held or posted within the route's budget closes the sender and its peer
 * instead, so that no frame is lost while both stay open.
 */
async function passOnOrClose(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  peer: string | undefined,
  passOn: () => Promise<void>,
): Promise<void> {
  try {
    await passOn();
  } catch (error) {
    ctx.metrics.count('Errors');
    ctx.log.error('relay frame could not be passed on: closing the pair', { error });
    cache.delete(connectionId);
    await closeBestEffort(ctx, peer ? [connectionId, peer] : [connectionId]);
  }
}

async function relayFrame(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  socket: RelayConnection | undefined,
  body: string,
  receivedAt: number,
): Promise<void> {
  if (!socket) {
    await ctx.messenger.close(connectionId);
    return;
  }
  if (socket.peer && socket.pairedAt && socket.flushed)
    return forward(
      ctx,
      cache,
      connectionId,
      { peer: socket.peer, pairedAt: socket.pairedAt },
      body,
    );

  // The frame's write is retried under the number it took. Only a counter whose answer was lost
  // leaves a gap (the deliverer waits it out): the frame itself is held once, under a later one.
  const until = routeBudget(ctx);
  const held = await retryUntil(ctx, until, 'holding a frame', () =>
    ctx.store.hold(connectionId, body, receivedAt, ctx.limits, (write) =>
      retryUntil(ctx, until, 'writing a held frame', write),
    ),
  );
  if ('held' in held) {
    ctx.metrics.count('FramesHeld');
    ctx.log.debug('frame held', { seq: held.held, paired: Boolean(socket.peer) });
  } else if ('flushed' in held) {
    // Delivery finished between our read and our hold: the direct path is open.
    const { peer, pairedAt } = held.flushed;
    if (peer && pairedAt) await forward(ctx, cache, connectionId, { peer, pairedAt }, body);
  } else if ('full' in held) {
    ctx.log.warn('held frames over the limit: socket closed', {
      maxHeldFrames: ctx.limits.maxHeldFrames,
      maxHeldBytes: ctx.limits.maxHeldBytes,
    });
    await ctx.messenger.close(connectionId);
  }
}

async function forward(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  pairing: Pairing,
  body: string,
): Promise<void> {
  cache.set(connectionId, pairing);
  const result = await retryUntil(ctx, routeBudget(ctx), 'posting a relay frame', () =>
    postWhenReady(ctx, pairing.peer, body, pairing.pairedAt),
  );
  if (result === 'sent') {
    ctx.metrics.count('FramesRelayed');
    return;
  }
  cache.delete(connectionId);
  await peerGone(ctx, connectionId, pairing.peer);
}

/** The peer answered 410 for good: remove its records and close the sender. */
async function peerGone(ctx: Context, sender: string, peer: string): Promise<void> {
  ctx.metrics.count('Gone');
  ctx.log.info('relay peer gone: closing sender', { peerConnectionId: peer });
  const stale = await dropRelay(ctx, peer);
  if (stale?.peer !== sender) await ctx.messenger.close(sender);
}

/**
 * Removes a relay socket's records; closes its peer (or withdraws it from the rendezvous).
 * Used at $disconnect and for sockets found gone. Returns what was removed.
 */
export async function dropRelay(
  ctx: Context,
  connectionId: string,
  cache?: PairCache,
): Promise<RelayConnection | undefined> {
  cache?.delete(connectionId);
  const socket = await ctx.store.removeConnection(connectionId);
  if (!socket || socket.kind !== 'relay') return undefined;
  await releaseRelay(ctx, socket, cache);
  return socket;
}

/** After a relay socket's record is removed: close its peer or leave the rendezvous. */
export async function releaseRelay(
  ctx: Context,
  socket: RelayConnection,
  cache?: PairCache,
): Promise<void> {
  const { connectionId } = socket;
  cache?.delete(connectionId);
  // Held frames first: if closing the peer fails, nothing of this socket is left behind.
  if (socket.seq) await ctx.store.removeHeld(connectionId);
  if (socket.peer) {
    cache?.delete(socket.peer);
    await closeWhenReady(ctx, socket.peer, socket.pairedAt ?? 0);
  } else {
    await ctx.store.leaveRendezvous(socket, connectionId);
  }
}

/** How long the deliverer waits for a held frame whose counter was taken but not yet written. */
const MISSING_FRAME_PATIENCE_MS = 2_000;

/** How long a deliverer keeps retrying posts that fail (429, 5xx) once the SDK has given up. */
const POST_PATIENCE_MS = 15_000;

/**
 * The deliver function's job: post every frame held for `from` to `to` in order, then mark `from`
 * flushed. A claim on the counter keeps two deliverers from sending twice; claimed frames that
 * cannot be posted close the pair rather than vanish. See README.md, "Reliability".
 */
export async function deliverHeld(ctx: Context, job: DeliveryJob): Promise<void> {
  const patientUntil = ctx.now() + POST_PATIENCE_MS;
  // A failure before the claim (DynamoDB throttled past the SDK's retries) is retried here, at
  // once: left to Lambda's retry a minute later, it would stall this direction of the pair.
  const retryBy = ctx.now() + DELIVERY_RETRY_MS;
  for (let pause = 100; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      return await deliverRounds(ctx, job, patientUntil);
    } catch (error) {
      if (error instanceof AbandonedDelivery) throw error;
      if (ctx.now() + pause > retryBy) {
        await abandonPair(ctx, job);
        throw error;
      }
      ctx.log.warn('delivering held frames failed before claiming them: retrying', { error });
      await sleep(pause);
    }
  }
}

/** How long a delivery retries failures that came before it claimed anything. */
const DELIVERY_RETRY_MS = 10_000;

/** Claimed frames could not be posted or recorded: the pair was closed. */
class AbandonedDelivery extends Error {}

async function deliverRounds(ctx: Context, job: DeliveryJob, patientUntil: number): Promise<void> {
  let waitingSince: number | undefined;
  for (let round = 0; round < 1000; round++) {
    const socket = await ctx.store.getConnection(job.from);
    if (!socket || socket.kind !== 'relay' || socket.peer !== job.to || socket.flushed) return;
    const seq = socket.seq ?? 0;
    const delivered = socket.delivered ?? 0;
    const sent = socket.sent ?? delivered;
    let from = delivered;
    let takeOver: number | undefined;
    if (sent < delivered) {
      // Another deliverer is posting (sent, delivered]: it finishes the job, unless it died.
      const claimedAt = socket.claimedAt ?? 0;
      if (ctx.now() < claimedAt + DELIVER_TIMEOUT_MS) return;
      ctx.log.warn('taking over a dead delivery', { peerConnectionId: job.to });
      from = sent;
      takeOver = claimedAt;
    } else if (seq === delivered) {
      if (await ctx.store.markFlushed(job.from, seq)) {
        ctx.log.info('held frames delivered', { peerConnectionId: job.to, frames: seq });
        return;
      }
      continue; // a frame was held meanwhile
    }
    const frames = (await ctx.store.listHeld(job.from)).filter(
      (frame) => frame.seq > from && frame.seq <= seq,
    );
    if (frames.length < seq - from) {
      // A frame's counter was taken but its item is not written yet: give it a moment.
      waitingSince ??= ctx.now();
      if (ctx.now() - waitingSince < MISSING_FRAME_PATIENCE_MS) {
        await sleep(10);
        continue;
      }
      ctx.log.error('held frames missing: delivering the rest', {
        missing: seq - from - frames.length,
      });
    }
    waitingSince = undefined;
    const at = ctx.now();
    if (!(await ctx.store.claimHeld(job.from, delivered, seq, { from, at, takeOver }))) continue;
    // Frames are ordered as API Gateway received them, then by the order they were counted.
    frames.sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq);
    try {
      for (const frame of frames) {
        const result = await postPatiently(ctx, job, frame.body, patientUntil);
        if (result === 'gone') return await peerGone(ctx, job.from, job.to);
        ctx.metrics.count('FramesDelivered');
      }
      await ctx.store.finishHeld(job.from, seq, at, {
        frames: seq - from,
        bytes: frames.reduce((sum, frame) => sum + Buffer.byteLength(frame.body), 0),
      });
    } catch (error) {
      await abandonPair(ctx, job);
      throw new AbandonedDelivery('held frames could not be delivered: pair closed', {
        cause: error,
      });
    }
    await ctx.store.removeHeld(
      job.from,
      frames.map((frame) => frame.seq),
    );
  }
  throw new Error('held frames kept arriving: delivery gave up');
}

/** Posts a held frame: 410 as for any frame; other failures retried with backoff until `until`. */
async function postPatiently(
  ctx: Context,
  job: DeliveryJob,
  body: string,
  until: number,
): Promise<Delivery> {
  for (let pause = 100; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await postWhenReady(ctx, job.to, body, job.pairedAt);
    } catch (error) {
      if (ctx.now() + pause > until) throw error;
      ctx.log.warn('posting a held frame failed: retrying', { error });
      await sleep(pause);
    }
  }
}

/** Claimed frames could not be delivered: close both sockets (best effort) rather than lose them silently. */
async function abandonPair(ctx: Context, job: DeliveryJob): Promise<void> {
  ctx.log.error('held frames could not be delivered: closing both sockets', {
    peerConnectionId: job.to,
  });
  await closeBestEffort(ctx, [job.to, job.from]);
}

/** Closes sockets, each retried within a short budget; a failure is logged, never thrown. */
export async function closeBestEffort(ctx: Context, sockets: readonly string[]): Promise<void> {
  const until = ctx.now() + CLOSE_PATIENCE_MS;
  for (const socket of sockets) {
    try {
      await retryUntil(ctx, until, 'closing a socket', () => ctx.messenger.close(socket));
    } catch (error) {
      ctx.log.error('could not close a socket of an abandoned pair', { error });
    }
  }
}

/** How long closing an abandoned pair's sockets may take: within a route's timeout. */
const CLOSE_PATIENCE_MS = 2_000;

/**
 * Relay sockets (PROTOCOL.md): `/connection/A/B/key` pairs with `/connection/B/A/key` and the
 * server pipes frames between them.
 *
 * Until a socket is "flushed" its frames are held in DynamoDB, in order; the deliver function
 * sends them to the peer (which may still be inside its $connect, answering 410) and then opens
 * the direct path. After that a frame costs one PostToConnection and no DynamoDB request: the
 * pair never changes, so the peer's connection id is cached in the warm function.
 */
import { DELIVER_TIMEOUT_MS, PAIRING_GRACE_MS, type Context } from './context.js';
import type { DeliveryJob } from './deferred.js';
import { whenReady, type Delivery } from './messenger.js';
import { errorReply, transportMismatch, type Transport } from './protocol.js';
import type { ConnectionRecord, RelayConnection } from './store.js';
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
  const progress: { claimed?: string } = {};
  try {
    return await pairOrWait(ctx, connectionId, request, progress);
  } catch (error) {
    await abandonRelay(ctx, connectionId, request, progress.claimed);
    throw error;
  }
}

/**
 * A $connect that fails after recording its socket refuses the handshake, and no $disconnect
 * will ever come for that socket: undo what it did, so that no socket stays paired with it
 * (holding its frames for a peer that never opened) or waits for it. A socket it had claimed is
 * closed, as for a peer that is gone; its client reconnects and pairs afresh.
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
    if (claimed) await closeSocket(ctx, claimed);
  } catch (error) {
    ctx.log.error('could not undo a failed relay $connect', { error });
  }
}

async function pairOrWait(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  progress: { claimed?: string },
): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const met = await ctx.store.meet(request, connectionId);
    if ('waiting' in met) {
      if (met.replaced) {
        // A newer socket for the same (A, B, key) replaces the waiting one, which is closed.
        await closeSocket(ctx, met.replaced);
        ctx.log.info('waiting relay socket replaced', { replacedConnectionId: met.replaced });
      }
      ctx.log.info('relay socket waiting', { localId: request.localId });
      return undefined;
    }
    const first = met.paired;
    // Claimed: it is out of the rendezvous now, so a failure from here on must not leave it
    // waiting where no reciprocal socket can ever find it (abandonRelay closes it).
    progress.claimed = first;
    const mismatch = transportMismatch(request.transport, met.transport);
    if (mismatch) return refuseMismatch(ctx, connectionId, first, met.transport, mismatch);
    const pairedAt = ctx.now();
    const waiting = await ctx.store.setPeer(first, connectionId, pairedAt, false);
    if (!waiting) {
      progress.claimed = undefined;
      continue; // it left as we claimed it: wait in its place
    }
    // This socket cannot have sent anything yet (its $connect has not returned): it is flushed.
    await ctx.store.setPeer(connectionId, first, pairedAt, true);
    ctx.metrics.count('PairsMade');
    ctx.log.info('relay pair made', { peerConnectionId: first, held: waiting.seq ?? 0 });
    if (!waiting.seq && (await ctx.store.markFlushed(first, 0))) return undefined;
    await ctx.deferred.deliverLater({ from: first, to: connectionId, pairedAt });
    return undefined;
  }
  throw new Error('relay pairing kept failing');
}

/**
 * A SignalSocket transport socket met a plain one: never paired, or the plain app would see
 * framing and the transport app plain data. The waiting socket is told why (a transport reads
 * the Error frame and ends its stream with it) and closed; the arriving socket is refused at its
 * handshake, so no $disconnect will come for it and its record goes now. Returns the reason.
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
    await whenReady(
      () => ctx.messenger.post(waiting, told),
      ctx.now() + PAIRING_GRACE_MS,
      ctx.now,
      mayBeConnecting(ctx, waiting),
    );
  }
  await closeSocket(ctx, waiting);
  await ctx.store.removeConnection(connectionId);
  return reason;
}

/** A frame from a relay socket. */
export async function onRelayFrame(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  body: string,
  receivedAt: number,
  /** The socket's record when the caller has read it already (null: it has none). */
  known?: ConnectionRecord | null,
): Promise<void> {
  const cached = cache.get(connectionId);
  if (cached) return forward(ctx, cache, connectionId, cached, body);
  const socket = known === undefined ? await ctx.store.getConnection(connectionId) : known;
  if (!socket || socket.kind !== 'relay') {
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

  const held = await ctx.store.hold(connectionId, body, receivedAt, ctx.limits);
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
  const result = await postToPeer(ctx, pairing, body);
  if (result === 'sent') {
    ctx.metrics.count('FramesRelayed');
    return;
  }
  cache.delete(connectionId);
  await peerGone(ctx, connectionId, pairing.peer);
}

/**
 * A 410 may mean "not ready yet" only while the socket's $connect may still be running: its
 * record exists (written first thing in $connect, removed first thing in $disconnect) and it
 * connected less than PAIRING_GRACE_MS ago (API Gateway allows a $connect 29 s). Otherwise the
 * socket is gone for good, and retrying until the grace period ends is wasted. An invocation
 * also stops waiting at its own `waitUntil`, so a route function never runs into its timeout.
 */
export const mayBeConnecting = (ctx: Context, connectionId: string) => async () => {
  if (ctx.waitUntil !== undefined && ctx.now() >= ctx.waitUntil) return false;
  const socket = await ctx.store.getConnection(connectionId);
  return socket !== undefined && ctx.now() < socket.connectedAt + PAIRING_GRACE_MS;
};

/** Retries a 410 from `peer` within the grace period, while the peer may still be connecting. */
const untilReady = (
  ctx: Context,
  peer: string,
  pairedAt: number,
  attempt: () => Promise<Delivery>,
): Promise<Delivery> =>
  whenReady(attempt, pairedAt + PAIRING_GRACE_MS, ctx.now, mayBeConnecting(ctx, peer));

/**
 * Closes a socket that may still be inside its own $connect (two sockets of a pair arriving at
 * the same moment): its 410 is retried while it may be connecting, so it is never left open,
 * unpaired and out of the rendezvous, once its $connect returns.
 */
const closeSocket = (ctx: Context, connectionId: string): Promise<Delivery> =>
  whenReady(
    () => ctx.messenger.close(connectionId),
    ctx.now() + PAIRING_GRACE_MS,
    ctx.now,
    mayBeConnecting(ctx, connectionId),
  );

const postToPeer = (ctx: Context, { peer, pairedAt }: Pairing, body: string): Promise<Delivery> =>
  untilReady(ctx, peer, pairedAt, () => ctx.messenger.post(peer, body));

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
    const peer = socket.peer;
    await untilReady(ctx, peer, socket.pairedAt ?? 0, () => ctx.messenger.close(peer));
  } else {
    await ctx.store.leaveRendezvous(socket, connectionId);
  }
}

/** How long the deliverer waits for a held frame whose counter was taken but not yet written. */
const MISSING_FRAME_PATIENCE_MS = 2_000;

/** How long a deliverer keeps retrying posts that fail (429, 5xx) once the SDK has given up. */
const POST_PATIENCE_MS = 15_000;

/**
 * The deliver function's job: send every frame held for `from` to `to`, in order, then mark
 * `from` flushed so later frames go straight. Frames held meanwhile are picked up by the next
 * round. A claim on the counter keeps a duplicate invocation from sending anything twice, and
 * the direct path opens only once every claimed frame was posted.
 *
 * A failure after claiming (posts failing past the SDK's retries and this function's own, or
 * DynamoDB) would lose the claimed frames: the pair is closed instead, so that both clients
 * learn of it, and nothing stays held for a peer that will never get it. A deliverer that died
 * mid-claim (a timeout) leaves a claim older than DELIVER_TIMEOUT_MS: the next one (Lambda
 * retries the invocation) takes it over, and frames the dead one posted may then come twice.
 */
export async function deliverHeld(ctx: Context, job: DeliveryJob): Promise<void> {
  let waitingSince: number | undefined;
  const patientUntil = ctx.now() + POST_PATIENCE_MS;
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
      throw error;
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
      return await untilReady(ctx, job.to, job.pairedAt, () => ctx.messenger.post(job.to, body));
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
  for (const socket of [job.to, job.from]) {
    try {
      await ctx.messenger.close(socket);
    } catch (error) {
      ctx.log.error('could not close a socket of an abandoned delivery', { error });
    }
  }
}

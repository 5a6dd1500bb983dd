/**
 * The deliver function: held frames of a freshly paired relay socket reach its peer, in order,
 * exactly once, batch after batch, until it hands over to the direct path. See
 * docs/reliability.md, "Frames" and "Handing over to the direct path".
 */
import { backoff, settle } from './backoff.js';
import { DELIVER_TIMEOUT_MS, PAIRING_GRACE_MS, type Context } from './context.js';
import type { DeliveryJob } from './delivery-invoker.js';
import { HAND_OVER_SLACK } from './hand-over.js';
import { postHeld } from './held-posts.js';
import { HeldRelease } from './held-release.js';
import { HeldReader } from './held-reader.js';
import { peerGone } from './relay-release.js';
import { closeBestEffort, MAX_RETRY_PAUSE_MS } from './retry.js';
import type { HeldFrame, RelayConnection } from './store.js';

// The deliver function's time budgets, each counted from the start of its job.

/**
 * How long a delivery retries failures that came before it claimed anything (DynamoDB throttled
 * past the SDK's retries): retried at once, since left to Lambda's retry a minute later, it
 * would stall this direction of the pair. Past it, the pair is closed.
 */
const DELIVERY_RETRY_MS = 10_000;

/** How long a deliverer keeps retrying posts that fail (429, 5xx) once the SDK has given up. */
const POST_PATIENCE_MS = 15_000;

/**
 * How long one deliverer keeps starting rounds, retried ones included, well within the deliver
 * function's timeout.
 */
const ROUNDS_BUDGET_MS = DELIVER_TIMEOUT_MS - PAIRING_GRACE_MS / 2;

/**
 * The deliver function's job: post every frame held for `from` to `to` in order, then open the
 * direct path. A claim on the counter keeps two deliverers from sending twice; claimed frames
 * that cannot be posted close the pair rather than vanish.
 */
export async function deliverHeld(ctx: Context, job: DeliveryJob): Promise<void> {
  const patientUntil = ctx.now() + POST_PATIENCE_MS;
  const retryBy = ctx.now() + DELIVERY_RETRY_MS;
  const roundsUntil = ctx.now() + ROUNDS_BUDGET_MS;
  const reader = new HeldReader(ctx, job.from);
  const outcome = await backoff(
    { first: 100, max: MAX_RETRY_PAUSE_MS, until: retryBy, now: ctx.now },
    () => settle(() => deliverRounds(ctx, job, reader, { patientUntil, roundsUntil })),
    (rounds) => {
      if (rounds.ok || endsDelivery(rounds.error)) return false;
      ctx.log.warn('delivering held frames failed before claiming them: retrying', {
        error: rounds.error,
      });
      return true;
    },
  );
  if (outcome.ok) return;
  // Failing past DELIVERY_RETRY_MS, before any claim: nothing was posted, the pair is closed.
  if (!endsDelivery(outcome.error)) await abandonPair(ctx, job);
  throw outcome.error;
}

/** Claimed frames could not be posted or recorded: the pair was closed. */
class AbandonedDelivery extends Error {}

/**
 * Frames kept arriving for the whole work budget: nothing is lost or claimed, so the pair stays
 * open and Lambda's retry of this invocation carries on.
 */
class StillArriving extends Error {}

/** Errors that end a delivery at once, with the pair already closed or left open on purpose. */
const endsDelivery = (error: unknown) =>
  error instanceof AbandonedDelivery || error instanceof StillArriving;

interface Deadlines {
  /** Until when failing posts are retried. */
  patientUntil: number;
  /** Until when new rounds start. */
  roundsUntil: number;
}

/** Rounds of read, claim, post and record, until the direct path is open or the pair gone. */
async function deliverRounds(
  ctx: Context,
  job: DeliveryJob,
  reader: HeldReader,
  deadlines: Deadlines,
): Promise<void> {
  while (ctx.now() < deadlines.roundsUntil) {
    const socket = await ctx.store.connections.getConnection(job.from);
    if (!socket || socket.kind !== 'relay' || socket.peer !== job.to || socket.flushed) return;
    const seq = socket.seq ?? 0;
    const delivered = socket.delivered ?? 0;
    if ((socket.sent ?? 0) < delivered) return closeUnfinished(ctx, job, socket);
    if (seq === delivered) {
      if (await ctx.store.relays.markFlushed(job.from, seq)) return delivering(ctx, job, seq);
      continue; // a frame was held meanwhile
    }
    // Only frames whose items are written, from the first unclaimed one on, without a gap: a
    // frame still being written is not waited for unless it is the next one due.
    const frames = await reader.readyAfter(delivered, seq);
    if (frames.length === 0) continue;
    const at = ctx.now();
    if (!(await ctx.store.relays.claimHeld(job.from, delivered, frames.at(-1)!.seq, { at })))
      continue;
    if (await deliverClaim(ctx, job, reader, { frames, at }, deadlines.patientUntil)) return;
  }
  throw new StillArriving('held frames kept arriving: Lambda retries the delivery');
}

/**
 * Posts a claimed batch and records it: with the direct path opened in the same write when at
 * most HAND_OVER_SLACK frames came meanwhile (those are claimed with it and posted next). True
 * once the job is over; false when the path stays shut for another round.
 */
async function deliverClaim(
  ctx: Context,
  job: DeliveryJob,
  reader: HeldReader,
  claim: { frames: HeldFrame[]; at: number },
  patientUntil: number,
): Promise<boolean> {
  const { frames, at } = claim;
  const upTo = frames.at(-1)!.seq;
  const posted = [...frames];
  const release = new HeldRelease(ctx, job.from, at);
  const posting = { until: patientUntil, posted: release.posted };
  let handedOver: number | undefined;
  try {
    if ((await postHeld(ctx, job, frames, posting)) === 'gone') {
      await peerGone(ctx, job.from, job.to);
      return true;
    }
    const rest = await release.rest(frames);
    handedOver = await ctx.store.relays.handOver(job.from, upTo, at, rest, HAND_OVER_SLACK);
    if (handedOver === undefined) await ctx.store.relays.finishHeld(job.from, upTo, at, rest);
    else if (handedOver > upTo) {
      const tail = await reader.allBetween(upTo, handedOver);
      posted.push(...tail);
      if ((await postHeld(ctx, job, tail, posting)) === 'gone') {
        await peerGone(ctx, job.from, job.to);
        return true;
      }
      await ctx.store.relays.finishHeld(job.from, handedOver, at, await release.rest(tail));
    }
  } catch (error) {
    await abandonPair(ctx, job, at);
    throw new AbandonedDelivery('held frames could not be delivered: pair closed', {
      cause: error,
    });
  }
  // Tombstones stay until the socket goes: a late write must still find one.
  const done = posted.filter((frame) => !frame.skipped).map((frame) => frame.seq);
  await ctx.store.relays.removeHeld(job.from, done);
  if (handedOver === undefined) return false;
  delivering(ctx, job, handedOver);
  return true;
}

const delivering = (ctx: Context, job: DeliveryJob, frames: number) =>
  ctx.log.info('held frames delivered', { peerConnectionId: job.to, frames });

/**
 * A claim whose frames are not all recorded as posted. Its deliverer is still at work (and
 * finishes the job), or it died or gave up: then which of its frames reached the peer is
 * unknown, and posting them again could send one twice. So the pair is closed.
 */
async function closeUnfinished(
  ctx: Context,
  job: DeliveryJob,
  socket: RelayConnection,
): Promise<void> {
  const { claimedAt } = socket;
  if (claimedAt !== undefined && ctx.now() < claimedAt + DELIVER_TIMEOUT_MS) return;
  ctx.log.error('a delivery was left unfinished: closing both sockets', {
    peerConnectionId: job.to,
  });
  await closeBestEffort(ctx, [job.to, job.from]);
}

/**
 * Held frames could not be delivered: close both sockets (best effort) rather than lose them
 * silently. The claim made at `at`, if any, is marked abandoned first, so that Lambda's retry of
 * this invocation closes the pair too when these closes fail, instead of posting it again.
 */
async function abandonPair(ctx: Context, job: DeliveryJob, at?: number): Promise<void> {
  ctx.log.error('held frames could not be delivered: closing both sockets', {
    peerConnectionId: job.to,
  });
  if (at !== undefined)
    await ctx.store.relays.abandonClaim(job.from, at).catch((error: unknown) => {
      ctx.log.error('could not mark the delivery abandoned', { error });
    });
  await closeBestEffort(ctx, [job.to, job.from]);
}

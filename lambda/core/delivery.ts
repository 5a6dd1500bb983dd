/** The deliver function: held frames of a freshly paired relay socket reach its peer, in order. */
import { DELIVER_TIMEOUT_MS, PAIRING_GRACE_MS, type Context } from './context.js';
import type { DeliveryJob } from './delivery-invoker.js';
import type { Delivery } from './messenger.js';
import { postWhenReady } from './readiness.js';
import { peerGone } from './relay.js';
import { closeBestEffort, MAX_RETRY_PAUSE_MS } from './retry.js';
import { sleep } from './util.js';

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
  // One budget for all rounds, retried ones included, so the invocation ends within its timeout.
  const roundsUntil = ctx.now() + ROUNDS_BUDGET_MS;
  for (let pause = 100; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      return await deliverRounds(ctx, job, patientUntil, roundsUntil);
    } catch (error) {
      if (error instanceof AbandonedDelivery || error instanceof StillArriving) throw error;
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

/**
 * Frames kept arriving for the whole work budget: nothing is lost or claimed, so the pair stays
 * open and Lambda's retry of this invocation carries on.
 */
class StillArriving extends Error {}

/** How long one deliverer keeps taking rounds, well within the deliver function's timeout. */
const ROUNDS_BUDGET_MS = DELIVER_TIMEOUT_MS - PAIRING_GRACE_MS / 2;

async function deliverRounds(
  ctx: Context,
  job: DeliveryJob,
  patientUntil: number,
  roundsUntil: number,
): Promise<void> {
  let waitingSince: number | undefined;
  while (ctx.now() < roundsUntil) {
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
    let flushed: boolean;
    // Frames are ordered as API Gateway received them, then by the order they were counted.
    frames.sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq);
    try {
      for (const frame of frames) {
        const result = await postPatiently(ctx, job, frame.body, patientUntil);
        if (result === 'gone') return await peerGone(ctx, job.from, job.to);
        ctx.metrics.count('FramesDelivered');
      }
      const released = {
        frames: seq - from,
        bytes: frames.reduce((sum, frame) => sum + Buffer.byteLength(frame.body), 0),
      };
      // Opening the direct path in the same write as the last post's record leaves frames sent
      // meanwhile the least time to be held: a steady stream would otherwise never hand over.
      flushed = await ctx.store.finishAndFlush(job.from, seq, at, released);
      if (!flushed) await ctx.store.finishHeld(job.from, seq, at, released);
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
    if (flushed) {
      ctx.log.info('held frames delivered', { peerConnectionId: job.to, frames: seq });
      return;
    }
  }
  throw new StillArriving('held frames kept arriving: Lambda retries the delivery');
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

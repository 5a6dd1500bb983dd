/** The deliver function: held frames of a freshly paired relay socket reach its peer, in order. */
import { DELIVER_TIMEOUT_MS, type Context } from './context.js';
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

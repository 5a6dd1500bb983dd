/**
 * Posting a batch of held frames to the peer. PostToConnection promises no order between calls
 * in flight together (docs/reliability.md, "Frame order"), so frames held before the pair was
 * made go one at a time, each after the previous one was accepted: they arrive in the order API
 * Gateway received them, and before anything later. Frames held after it are posted a few at a
 * time, as the direct path's concurrent invocations would have posted them.
 */
import { retryThrown } from './backoff.js';
import type { Context } from './context.js';
import type { DeliveryJob } from './delivery-invoker.js';
import type { Delivery } from './messenger.js';
import { postWhenReady } from './readiness.js';
import type { HeldFrame } from './store.js';

/** Posts in flight at once for frames held after the pair was made. */
export const HELD_POST_WINDOW = 8;

/** How a batch is posted: until when failing posts are retried, and who hears of each post. */
export interface HeldPosting {
  until: number;
  posted: (frame: HeldFrame) => void;
}

/**
 * Posts `frames` (tombstones skipped) in the order API Gateway received them. 'gone' when the
 * peer answered 410 for good; throws when a post keeps failing until `until`.
 */
export async function postHeld(
  ctx: Context,
  job: DeliveryJob,
  frames: readonly HeldFrame[],
  posting: HeldPosting,
): Promise<Delivery> {
  const ordered = frames
    .filter((frame) => !frame.skipped)
    .sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq);
  const beforePairing = ordered.filter((frame) => frame.receivedAt <= job.pairedAt).length;
  const first = await postWindowed(ctx, job, ordered.slice(0, beforePairing), 1, posting);
  if (first === 'gone') return first;
  return postWindowed(ctx, job, ordered.slice(beforePairing), HELD_POST_WINDOW, posting);
}

/** Posts frames in order with at most `window` in flight; stops at a 410 or a failure. */
async function postWindowed(
  ctx: Context,
  job: DeliveryJob,
  frames: readonly HeldFrame[],
  window: number,
  { until, posted }: HeldPosting,
): Promise<Delivery> {
  const state: { next: number; stop?: 'gone' | 'failed' } = { next: 0 };
  const worker = async () => {
    while (!state.stop && state.next < frames.length) {
      const frame = frames[state.next++]!;
      try {
        if ((await postPatiently(ctx, job, frame.body, until)) === 'gone') state.stop = 'gone';
        else {
          ctx.metrics.count('FramesDelivered');
          posted(frame);
        }
      } catch (error) {
        state.stop = 'failed';
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(window, frames.length) }, worker);
  const failed = (await Promise.allSettled(workers)).find(
    (outcome) => outcome.status === 'rejected',
  );
  if (failed?.status === 'rejected') throw failed.reason;
  return state.stop === 'gone' ? 'gone' : 'sent';
}

/**
 * Posts a held frame: 410 as for any frame; any other failure retried with a growing pause
 * (100 ms to 2 s) until `until`.
 */
const postPatiently = (
  ctx: Context,
  job: DeliveryJob,
  body: string,
  until: number,
): Promise<Delivery> =>
  retryThrown(
    { first: 100, max: 2_000, until, now: ctx.now },
    () => postWhenReady(ctx, job.to, body, job.pairedAt),
    (error) => {
      ctx.log.warn('posting a held frame failed: retrying', { error });
      return true;
    },
  );

/** Retrying calls that failed past the AWS SDK's own retries, within a budget. */
import { retryThrown } from './backoff.js';
import type { Context } from './context.js';
import { DeadlineExceeded, withinBudget } from './deadline.js';

/** How long a retried call waits between attempts at most (ms). */
export const MAX_RETRY_PAUSE_MS = 1_000;

/**
 * Retries a call that failed past the SDK's own retries (throttling, 5xx) with a growing pause
 * (50 ms to MAX_RETRY_PAUSE_MS), until `until` (ms); then throws its last error. A condition
 * that does not hold is never an error here: the store answers it (undefined, false). In an
 * invocation, each attempt's AWS calls end by `until` too: what follows keeps its time.
 */
export const retryUntil = <T>(
  ctx: Context,
  until: number,
  what: string,
  attempt: () => Promise<T>,
): Promise<T> =>
  retryThrown(
    { first: 50, max: MAX_RETRY_PAUSE_MS, until, now: ctx.now },
    () => withinBudget(until - ctx.now(), attempt),
    (error) => {
      if (error instanceof DeadlineExceeded) return false;
      ctx.log.warn(`${what} failed: retrying`, { error });
      return true;
    },
  );

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

/**
 * "Is the peer still connecting?" A socket paired or introduced a moment ago may still be inside
 * its own $connect, and API Gateway answers 410 until that returns: such a 410 is retried, any
 * other is taken for gone. Used by relay and introduction alike.
 */
import { backoff } from './backoff.js';
import { PAIRING_GRACE_MS, type Context } from './context.js';
import { timeLeft } from './deadline.js';
import type { Delivery } from './messenger.js';

/**
 * Until `readyBy` (ms), a 410 is retried with a growing pause (10 ms to 1 s), as long as
 * `mayBeConnecting` says the socket may still be connecting (by default, always) and the calls'
 * budget lasts.
 */
export const whenReady = (
  attempt: () => Promise<Delivery>,
  readyBy: number,
  now: () => number = Date.now,
  mayBeConnecting: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<Delivery> =>
  backoff(
    { first: 10, max: 1_000, until: readyBy, now },
    attempt,
    async (result, pause) => result !== 'sent' && pause < timeLeft() && (await mayBeConnecting()),
  );

/**
 * Whether a socket's $connect may still be running: its record exists (written first thing in
 * $connect, removed first thing in $disconnect) and it connected less than PAIRING_GRACE_MS ago.
 * An invocation also stops waiting at its own `waitUntil`, so it never runs into its timeout.
 */
export async function mayBeConnecting(ctx: Context, connectionId: string): Promise<boolean> {
  if (ctx.now() >= ctx.waitUntil) return false;
  const socket = await ctx.store.connections.getConnection(connectionId);
  return socket !== undefined && ctx.now() < socket.connectedAt + PAIRING_GRACE_MS;
}

/**
 * Posts to a socket that may have been connecting since `since` (ms; by default now): its 410 is
 * retried within the grace period while it may still be connecting.
 */
export const postWhenReady = (
  ctx: Context,
  connectionId: string,
  data: string,
  since = ctx.now(),
): Promise<Delivery> =>
  retryWhileConnecting(ctx, connectionId, since, () => ctx.messenger.post(connectionId, data));

/** Closes a socket that may still be connecting, so that it is never left open once it returns. */
export const closeWhenReady = (
  ctx: Context,
  connectionId: string,
  since = ctx.now(),
): Promise<Delivery> =>
  retryWhileConnecting(ctx, connectionId, since, () => ctx.messenger.close(connectionId));

const retryWhileConnecting = (
  ctx: Context,
  connectionId: string,
  since: number,
  attempt: () => Promise<Delivery>,
): Promise<Delivery> =>
  whenReady(attempt, since + PAIRING_GRACE_MS, ctx.now, () => mayBeConnecting(ctx, connectionId));

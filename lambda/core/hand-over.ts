/**
 * Handing a relay socket over from held frames to the direct path without waiting for a quiet
 * moment: the deliverer opens the direct path while its last few held frames are still being
 * posted, and a frame sent after them waits until they are, so that it never overtakes them.
 */
import { backoffFrom } from './backoff.js';
import type { Context } from './context.js';
import type { RelayConnection } from './store.js';

/**
 * How many frames counted while the deliverer posted a batch may still join that batch when the
 * direct path opens: at most a few hundred ms of posts, which later frames wait for. A sender
 * faster than that keeps the path shut for one more batch.
 */
export const HAND_OVER_SLACK = 50;

/**
 * How long a direct frame waits for the last held frames at most: they are a few posts away
 * unless one of them is missing, and then the deliverer either skips it or closes the pair.
 */
const HAND_OVER_WAIT_MS = 1_000;

/** Whether the deliverer is still posting the held frames claimed at the hand-over. */
const stillPosting = (socket: RelayConnection) => (socket.sent ?? 0) < (socket.delivered ?? 0);

/**
 * Resolves once every held frame of a flushed socket was posted (re-reading its record with
 * pauses growing from 5 to 100 ms), or within HAND_OVER_WAIT_MS: the frame then goes anyway,
 * never lost.
 */
export async function afterHandOver(ctx: Context, socket: RelayConnection): Promise<void> {
  await backoffFrom<RelayConnection | undefined>(
    socket,
    { first: 5, max: 100, until: ctx.now() + HAND_OVER_WAIT_MS, now: ctx.now },
    async () => {
      const read = await ctx.store.connections.getConnection(socket.connectionId);
      return read?.kind === 'relay' ? read : undefined;
    },
    (record) => record !== undefined && stillPosting(record),
  );
}

/**
 * Reading held frames for the deliverer: one bounded query per batch, and for a frame whose
 * number was counted but whose item is not written yet, a wait with growing pauses, then a
 * tombstone in its place (a write that comes later fails, and its writer closes the pair).
 */
import { pauses } from './backoff.js';
import type { Context } from './context.js';
import type { HeldFrame } from './store.js';
import { sleep } from './util.js';

/**
 * How long the deliverer waits for a held frame counted but not written before it skips it:
 * longer than the SDK's retries of one throttled write (about 3.5 s), so that ordinary
 * throttling delays a pairing rather than closing it.
 */
export const MISSING_FRAME_PATIENCE_MS = 6_000;

/** Frames read (and claimed) per round: one query, bounded. */
export const HELD_BATCH = 100;

/** The pauses while a frame is missing: from a few ms (its write is in flight) to half a second. */
const MISSING_FRAME_PAUSES = { first: 5, max: 500 };

export class HeldReader {
  /** The missing frame waited for, since when, and the pauses still to come. */
  private missing?: { seq: number; since: number; pauses: Iterator<number, never> };

  constructor(
    private readonly ctx: Context,
    private readonly connectionId: string,
  ) {}

  /**
   * The frames after `after`, up to `seq` and HELD_BATCH of them, as far as they follow each
   * other without a gap. Empty when the next one is missing: then this waits a moment (or, past
   * the patience, skips it with a tombstone) before it returns.
   */
  async readyAfter(after: number, seq: number): Promise<HeldFrame[]> {
    const listed = await this.ctx.store.relays.listHeld(this.connectionId, {
      after,
      upTo: Math.min(seq, after + HELD_BATCH),
    });
    const ready: HeldFrame[] = [];
    for (const frame of listed) {
      if (frame.seq !== after + ready.length + 1) break;
      ready.push(frame);
    }
    if (ready.length > 0) this.missing = undefined;
    else await this.waitFor(after + 1);
    return ready;
  }

  /** Every frame (or tombstone) after `after` up to `upTo`, waiting for those still missing. */
  async allBetween(after: number, upTo: number): Promise<HeldFrame[]> {
    const frames: HeldFrame[] = [];
    while (after + frames.length < upTo)
      frames.push(...(await this.readyAfter(after + frames.length, upTo)));
    return frames;
  }

  /** Waits for frame `seq` with growing pauses; past the patience, writes its tombstone. */
  private async waitFor(seq: number): Promise<void> {
    const { ctx } = this;
    if (this.missing?.seq !== seq)
      this.missing = { seq, since: ctx.now(), pauses: pauses(MISSING_FRAME_PAUSES) };
    const missing = this.missing;
    if (ctx.now() - missing.since < MISSING_FRAME_PATIENCE_MS) {
      await sleep(missing.pauses.next().value);
      return;
    }
    if (await ctx.store.relays.skipHeld(this.connectionId, seq)) {
      ctx.metrics.count('Errors');
      ctx.log.error(
        'a held frame was not written in time: skipped (a late write closes the pair)',
        {
          seq,
        },
      );
    }
  }
}

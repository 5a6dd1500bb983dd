/**
 * Giving back the held-frame bound as a batch is posted, not only once all of it is: frames held
 * before pairing are posted one at a time (docs/reliability.md, "Frame order"), so a batch of
 * 100 takes 2 s at 20 ms a post, and a sender that goes on meanwhile would otherwise be closed
 * at the bound for frames that are already gone.
 */
import type { Context } from './context.js';
import type { HeldAmount, HeldFrame } from './store.js';

/**
 * How often, at most, the deliverer writes what it has posted of a batch: a few writes for a
 * batch that takes seconds, none for one posted faster than this.
 */
export const RELEASE_INTERVAL_MS = 250;

/** What a list of frames takes of the bound; a tombstone took a number, no bytes. */
const heldAmount = (frames: readonly HeldFrame[]): HeldAmount => ({
  frames: frames.length,
  bytes: frames.reduce((sum, frame) => sum + Buffer.byteLength(frame.body), 0),
});

/** The releases of one claim: at most one write in flight, none blocking a post. */
export class HeldRelease {
  private unwritten: HeldAmount = { frames: 0, bytes: 0 };
  private written: HeldAmount = { frames: 0, bytes: 0 };
  private writing?: Promise<void>;
  private lastWrite: number;

  constructor(
    private readonly ctx: Context,
    private readonly connectionId: string,
    /** When the claim was made: a release of an abandoned claim is refused. */
    private readonly claimedAt: number,
  ) {
    this.lastWrite = ctx.now();
  }

  /** A frame of the claim was posted: its share is given back with the next write. */
  readonly posted = (frame: HeldFrame): void => {
    this.unwritten = add(this.unwritten, heldAmount([frame]));
    if (!this.writing && this.ctx.now() - this.lastWrite >= RELEASE_INTERVAL_MS) this.write();
  };

  /**
   * What of `frames` (all posted) the releases written so far have not given back: the final
   * write of the claim gives back that. Waits for a write in flight first.
   */
  async rest(frames: readonly HeldFrame[]): Promise<HeldAmount> {
    await this.writing;
    const total = heldAmount(frames);
    const rest = {
      frames: total.frames - this.written.frames,
      bytes: total.bytes - this.written.bytes,
    };
    this.unwritten = { frames: 0, bytes: 0 };
    this.written = { frames: 0, bytes: 0 };
    return rest;
  }

  private write(): void {
    const { ctx, connectionId, claimedAt } = this;
    const amount = this.unwritten;
    this.unwritten = { frames: 0, bytes: 0 };
    this.lastWrite = ctx.now();
    // A release that fails is not counted: the claim's final write gives its share back.
    this.writing = ctx.store.relays
      .releaseHeld(connectionId, claimedAt, amount)
      .then(
        (released) => {
          if (released) this.written = add(this.written, amount);
        },
        (error: unknown) => ctx.log.warn('could not release posted held frames', { error }),
      )
      .finally(() => (this.writing = undefined));
  }
}

const add = (a: HeldAmount, b: HeldAmount): HeldAmount => ({
  frames: a.frames + b.frames,
  bytes: a.bytes + b.bytes,
});

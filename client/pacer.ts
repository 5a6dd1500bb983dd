/**
 * The send side's clock (WIRE.md, "Timing and rate"): round-trip estimates (RFC 6298's smoothed
 * RTT and variation, and the minimum), and, once API Gateway has throttled a frame of this socket,
 * a pace set from the rate at which the gateway takes our frames.
 *
 * API Gateway answers every frame it drops with an error frame at once, so the frames it took in
 * an interval are the frames written less the error frames. Both sides of a pair share one stage
 * throttle, so each also counts the peer's frames it read: the pair's total. Each interval:
 *
 * - more than DROP_TARGET of our frames dropped: the pace falls to GAIN times the rate taken, but
 *   never below half the pace, nor below GAIN times half the pair's total (a side that gets less
 *   than half of what the pair gets through never yields it to the other);
 * - none dropped: the pace doubles (the peer went quiet, or the stage's other clients did);
 * - otherwise it rises by GAIN − 1 times the larger of the pace and the pair's total: both sides
 *   rise by about as much while they fall in proportion, so their paces converge to equal shares
 *   (AIMD, Chiu and Jain) instead of keeping whatever split they started from.
 *
 * A pace rises only if the writes kept up with it (not one that the app left unused). A throttle
 * that counts this pair's own rate drops a share that grows with the pace, so the pace settles
 * about GAIN times what gets through; a stage throttle shared with other clients drops a share
 * whatever the pace, and the pace never falls below what gets through. It is never slower than
 * MIN_RATE, and the pace's own gaps are not pauses that start an interval afresh (they were, and
 * a pace under 5 frames a second could never rise again).
 */

/** The slowest pace: a frame every 250 ms, so a pause is never longer than that. */
const MIN_RATE = 4;
const MAX_RATE = 10_000;
const GAIN = 1.25;
/** 1 − 1 / GAIN: the share dropped when the pace is GAIN times what gets through. */
const DROP_TARGET = 0.2;
/** An interval lasts at least this long (or two round trips) and MIN_WRITES frames. */
const INTERVAL_MS = 200;
const MIN_WRITES = 2;
/** Before any round trip is measured (RFC 6298's initial RTO). */
const INITIAL_RTO_MS = 1_000;

export class Pacer {
  srtt = 0;
  #rttvar = 0;
  minRtt = Infinity;
  /** Frames a second; 0 until the first throttle on this socket (then unpaced). */
  #rate = 0;
  #nextAt = 0;
  #start = 0;
  #writes = 0;
  #drops = 0;
  /** Frames read from the peer in the interval: its share of the throttle that both sides take. */
  #heard = 0;
  #lastWrite = 0;

  /** A round trip measured on a frame written once (Karn), in ms. */
  onRtt(ms: number): void {
    this.minRtt = Math.min(this.minRtt, ms);
    if (this.srtt === 0) {
      this.srtt = ms;
      this.#rttvar = ms / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  /** Any frame of ours went out (acknowledgements and hellos take the throttle's tokens too). */
  onWrite(now: number): void {
    // After a pause the interval starts afresh: the rate taken is a rate while writing. The
    // pace's own gaps are no pause (else a pace below 1000 / INTERVAL_MS could never rise).
    if (now - this.#lastWrite > Math.max(INTERVAL_MS, this.#rate && 2000 / this.#rate))
      this.#restart(now);
    this.#lastWrite = now;
    this.#writes++;
    this.#adjust(now);
  }

  /** A frame of the peer's arrived: it took a token of the throttle too. */
  onHeard(): void {
    this.#heard++;
  }

  /** API Gateway dropped a frame of ours. The first drop on a socket starts pacing. */
  onThrottled(now: number): void {
    this.#drops++;
    if (this.#rate === 0) this.#rate = this.#taken(now) || MIN_RATE;
    this.#adjust(now);
  }

  /** Frames a second the gateway took since the interval began (by default ours), times GAIN. */
  #taken(now: number, frames = this.#writes - this.#drops): number {
    return (GAIN * frames * 1000) / Math.max(now - this.#start, INTERVAL_MS);
  }

  #adjust(now: number): void {
    const writes = this.#writes;
    if (now - this.#start < Math.max(INTERVAL_MS, 2 * this.srtt) || writes < MIN_WRITES) return;
    const rate = this.#rate;
    const pair = this.#taken(now, writes - this.#drops + this.#heard);
    if (rate > 0)
      this.#rate =
        this.#drops > DROP_TARGET * writes
          ? Math.max(MIN_RATE, rate / 2, this.#taken(now), pair / 2)
          : Math.min(
              MAX_RATE,
              // Only a pace that the writes kept up with goes up (not one the app left unused).
              Math.max(rate, (2 * this.#taken(now, writes)) / GAIN),
              this.#drops === 0 ? 2 * rate : rate + (GAIN - 1) * Math.max(rate, pair / GAIN),
            );
    this.#restart(now);
  }

  #restart(now: number): void {
    this.#start = now;
    this.#writes = this.#drops = this.#heard = 0;
  }

  /** A new socket: the pace of the last one says little about this one. */
  reset(now: number): void {
    this.#rate = 0;
    this.#nextAt = 0;
    this.#restart(now);
  }

  /** When the next frame may go out (now, when not paced); takes the slot if it is now. */
  slot(now: number): number {
    if (this.#rate === 0) return now;
    if (now < this.#nextAt) return this.#nextAt;
    // A late frame does not earn a burst: the slot after it counts from now.
    this.#nextAt = now + 1000 / this.#rate;
    return now;
  }

  /**
   * How long to wait for an acknowledgement before probing (QUIC's PTO): the RTT, its variation,
   * and, unless the frame asked for an acknowledgement at once, the receiver's ack delay.
   */
  timeout(ackDelayMs: number, urgent: boolean, backoff: number, cap: number): number {
    const base = this.srtt === 0 ? INITIAL_RTO_MS : this.srtt + Math.max(4 * this.#rttvar, 10);
    return Math.min(cap, (base + (urgent ? 0 : ackDelayMs)) * 2 ** backoff);
  }
}

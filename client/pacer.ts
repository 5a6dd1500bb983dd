/**
 * The send side's clock (WIRE.md, "Timing and rate"): round-trip estimates (RFC 6298's smoothed
 * RTT and variation, and the minimum), and, once API Gateway has throttled a frame of this socket,
 * a pace set from the rate at which the gateway takes our frames.
 *
 * API Gateway answers every frame it drops with an error frame at once, so the frames it took in
 * an interval are the frames written less the error frames. A throttle that counts this pair's
 * own rate drops a share that grows with the pace; a stage throttle shared with other clients
 * drops a share whatever the pace. So the pace goes up by GAIN each interval in which at most
 * DROP_TARGET of the frames were dropped, and is set to GAIN times the rate taken otherwise: it
 * settles at about GAIN times what the throttle lets through, and never collapses below it.
 */

/** The slowest pace: a frame every 250 ms, so a pause is never longer than that. */
const MIN_RATE = 4;
const MAX_RATE = 10_000;
const GAIN = 1.25;
/** 1 − 1 / GAIN: the share dropped when the pace is GAIN times what gets through. */
const DROP_TARGET = 0.2;
/** An interval lasts at least this long (or two round trips) and four frames. */
const INTERVAL_MS = 200;
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
    // After a pause the interval starts afresh: the rate taken is a rate while writing.
    if (now - this.#lastWrite > INTERVAL_MS) this.#restart(now);
    this.#lastWrite = now;
    this.#writes++;
    this.#adjust(now);
  }

  /** API Gateway dropped a frame of ours. The first drop on a socket starts pacing. */
  onThrottled(now: number): void {
    this.#drops++;
    if (this.#rate === 0) this.#rate = this.#taken(now) || MIN_RATE;
    this.#adjust(now);
  }

  /** Frames a second the gateway took since the interval began, times GAIN. */
  #taken(now: number): number {
    return (GAIN * (this.#writes - this.#drops) * 1000) / Math.max(now - this.#start, INTERVAL_MS);
  }

  #adjust(now: number): void {
    if (now - this.#start < Math.max(INTERVAL_MS, 2 * this.srtt) || this.#writes < 4) return;
    if (this.#rate > 0)
      this.#rate =
        this.#drops > DROP_TARGET * this.#writes
          ? Math.max(MIN_RATE, this.#taken(now))
          : Math.min(MAX_RATE, GAIN * this.#rate);
    this.#restart(now);
  }

  #restart(now: number): void {
    this.#start = now;
    this.#writes = this.#drops = 0;
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

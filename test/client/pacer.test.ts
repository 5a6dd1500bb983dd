/**
 * The pace (client/pacer.ts) against a simulated stage throttle: a token bucket of R frames a
 * second, burst R/10, shared by both sides of a pair, on a virtual clock (nothing here is timed:
 * the clock is the simulation's, the same on every machine). Each side writes whenever its pace
 * allows (an unpaced side, a frame a millisecond); a frame the bucket refuses is answered at once
 * with an error frame, one it takes is read by the peer.
 */
import { describe, expect, it } from 'vitest';
import { Pacer } from '../../client/pacer.js';

interface Side {
  pacer: Pacer;
  /** Writes data whenever the pace allows, until this virtual time (ms). */
  sendsUntil: number;
  next: number;
  taken: number[];
  lastWrite: number;
  longestPause: number;
}

function simulate(rate: number, sends: [number, number], until: number) {
  const burst = Math.max(2, Math.round(rate / 10));
  let tokens = burst;
  let filledAt = 0;
  const take = (now: number) => {
    tokens = Math.min(burst, tokens + ((now - filledAt) / 1000) * rate);
    filledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
  const sides: Side[] = sends.map((sendsUntil) => {
    const pacer = new Pacer();
    pacer.reset(0);
    return { pacer, sendsUntil, next: 0, taken: [], lastWrite: NaN, longestPause: 0 };
  });
  // A side with nothing to send acknowledges one frame in ten that it reads.
  const heard = [0, 0];
  const write = (i: number, now: number, data: boolean) => {
    const side = sides[i]!;
    const peer = sides[1 - i]!;
    side.pacer.onWrite(now);
    if (data) {
      if (side.lastWrite >= 0)
        side.longestPause = Math.max(side.longestPause, now - side.lastWrite);
      side.lastWrite = now;
    }
    if (!take(now)) return side.pacer.onThrottled(now);
    if (data) side.taken.push(now);
    peer.pacer.onHeard();
    if (++heard[1 - i]! % 10 === 0 && now >= peer.sendsUntil) write(1 - i, now, false);
  };
  for (;;) {
    const i = sides[0]!.next <= sides[1]!.next ? 0 : 1;
    const side = sides[i]!;
    const now = side.next;
    if (now >= until) break;
    if (now >= side.sendsUntil) {
      side.next = Infinity;
      continue;
    }
    const slot = side.pacer.slot(now);
    if (slot > now) {
      side.next = slot;
      continue;
    }
    write(i, now, true);
    side.next = now + 1;
  }
  return sides;
}

const within = (times: number[], from: number, to: number) =>
  times.filter((t) => t >= from && t < to).length;

describe('the pace under a stage throttle shared by both sides', () => {
  it.each([10, 50, 100])(
    'at R = %i, both ways: the pair keeps the bucket busy and the two sides converge to equal shares',
    (rate) => {
      const [a, b] = simulate(rate, [30_000, 30_000], 30_000);
      const [fromA, fromB] = [within(a!.taken, 10_000, 30_000), within(b!.taken, 10_000, 30_000)];
      expect(fromA + fromB).toBeGreaterThanOrEqual(0.95 * rate * 20);
      expect(Math.min(fromA, fromB) / (fromA + fromB)).toBeGreaterThan(0.4);
      expect(Math.max(a!.longestPause, b!.longestPause)).toBeLessThanOrEqual(250);
    },
  );

  it.each([10, 50, 100])(
    'at R = %i, one way: the sender takes what the peer’s acknowledgements leave',
    (rate) => {
      const [a] = simulate(rate, [20_000, 0], 20_000);
      expect(within(a!.taken, 5_000, 20_000)).toBeGreaterThanOrEqual(0.85 * rate * 15);
      expect(a!.longestPause).toBeLessThanOrEqual(250);
    },
  );

  it.each([10, 50, 100])(
    'at R = %i: when the peer stops sending, the other side takes nearly all of the bucket within a second',
    (rate) => {
      const [a] = simulate(rate, [20_000, 10_000], 20_000);
      expect(within(a!.taken, 11_000, 20_000)).toBeGreaterThanOrEqual(0.85 * rate * 9);
    },
  );

  it('a pace slower than one frame per interval still rises once nothing is dropped', () => {
    // The stage's other clients took everything for a while, then left.
    const pacer = new Pacer();
    pacer.reset(0);
    let now = 0;
    for (; now < 2_000; now += 1) {
      if (pacer.slot(now) > now) continue;
      pacer.onWrite(now);
      pacer.onThrottled(now);
    }
    let writes = 0;
    for (const end = now + 2_000; now < end; now += 1) {
      if (pacer.slot(now) > now) continue;
      pacer.onWrite(now);
      writes++;
    }
    expect(writes).toBeGreaterThan(20);
  });
});

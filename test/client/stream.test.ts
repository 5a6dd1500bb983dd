/**
 * The stream's parts without a network: the wire format's version 2 frames (selective
 * acknowledgement ranges, the versioned hello), the outbox's budgets and its cost on long queues,
 * and the receiver's bound on frames held ahead of a gap.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../client/index.js';
import { resolve } from '../../client/options.js';
import { Receiver } from '../../client/receiver.js';
import {
  Inbox,
  Outbox,
  WINDOW_FRAMES,
  ackFrame,
  dataFrame,
  helloFrame,
  parseFrame,
  utf8Bytes,
} from '../../client/wire.js';

describe('the wire format (version 2)', () => {
  it('carries selective acknowledgements as ranges above the cumulative one', () => {
    const acks = { ack: 3, ranges: [5, 7, 40, 40] };
    expect(ackFrame(acks)).toBe('A3,5-7,14-14');
    expect(parseFrame(ackFrame(acks))).toEqual({ type: 'ack', acks });
    expect(parseFrame(dataFrame(9, acks, 'x', true))).toEqual({
      type: 'data',
      seq: 9,
      urgent: true,
      acks,
      segment: 'x',
    });
    // Ranges must ascend above the cumulative acknowledgement, with a gap before each.
    for (const bad of ['A3,3-4', 'A3,4-4', 'A3,6-5', 'A3,5-7,8-9', 'A3,5-7,6-9', 'A3,5'])
      expect(parseFrame(bad)).toBeUndefined();
  });

  it('names its version and the peer it knows in the hello, and reports another version as such', () => {
    const hello = helloFrame('abc123', 'peer9', { ack: 2, ranges: [] });
    expect(parseFrame(hello)).toEqual({
      type: 'hello',
      version: '2',
      session: 'abc123',
      peer: 'peer9',
      acks: { ack: 2, ranges: [] },
    });
    // Version 1's hello had no version: its session takes the version's place.
    expect(parseFrame('H0123456789abcdef.5')).toMatchObject({
      type: 'hello',
      version: '0123456789abcdef',
    });
  });

  it('lists the runs of frames held ahead of a gap', () => {
    const inbox = new Inbox();
    for (const seq of [1, 3, 4, 6, 9, 10, 11]) inbox.accept(seq, `t1:${seq % 10}`);
    expect(inbox.received).toBe(1);
    expect(inbox.ranges(8)).toEqual([3, 4, 6, 6, 9, 11]);
    expect(inbox.ranges(2)).toEqual([3, 4, 6, 6]);
  });
});

describe('the outbox', () => {
  it('budgets a close record in UTF-8 bytes, whatever its reason', () => {
    for (let room = 20; room < 200; room++) {
      const outbox = new Outbox();
      const budget = 1_000;
      outbox.push({ kind: 't', body: 'x'.repeat(budget - room - 5) }, 0);
      outbox.push({ kind: 'c', body: `4000 ${'€'.repeat(41)}` }, 0);
      for (let segment = outbox.next(budget); segment !== undefined; segment = outbox.next(budget))
        expect(utf8Bytes(segment)).toBeLessThanOrEqual(budget);
    }
  });

  it('cuts 200,000 queued messages into frames in time linear in their number', () => {
    const outbox = new Outbox();
    for (let i = 0; i < 200_000; i++) outbox.push({ kind: 't', body: `m${i}` }, 0);
    let frames = 0;
    while (outbox.next(32_000) !== undefined) frames++;
    expect(frames).toBeGreaterThan(50);
    expect(outbox.empty).toBe(true);
    // Shifting the queue's head made this quadratic: seconds of a frozen event loop.
  }, 10_000);
});

describe('the receiver', () => {
  it('refuses a data frame beyond the window instead of holding it', () => {
    const failures: [number, string][] = [];
    const receiver = new Receiver(
      {
        pump: () => false,
        write: () => undefined,
        fail: (code, why) => failures.push([code, why]),
      },
      resolve({}),
    );
    expect(receiver.accept(WINDOW_FRAMES, 't1:a', false)).toEqual([]);
    expect(receiver.accept(WINDOW_FRAMES + 1, 't1:b', false)).toBeUndefined();
    expect(failures).toEqual([[CLOSE_CODES.PROTOCOL_ERROR, 'a data frame beyond the window']]);
    receiver.stop();
  });
});

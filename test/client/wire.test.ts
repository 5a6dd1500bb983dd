/**
 * The wire format's framing, as properties: whatever the messages (sizes, multi-byte text with
 * characters straddling every possible cut, every byte value), whatever the frame limit, and
 * however the frames arrive (reordered, duplicated, resent after a cut), the receiver gets each
 * message once, in order, byte for byte, and no frame exceeds the limit or begins with "{".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Inbox,
  MAX_HEADER_BYTES,
  Outbox,
  dataFrame,
  fromBase64,
  parseFrame,
  toBase64,
  utf8Bytes,
  type StreamRecord,
} from '../../client/wire.js';

const encoder = new TextEncoder();

type Message = { text: string } | { binary: Uint8Array };

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ text: fc.string({ unit: 'binary', maxLength: 600 }) }),
  fc.record({
    text: fc.string({ unit: fc.constantFrom('a', 'é', '€', '🐟', '\u{10FFFF}'), maxLength: 300 }),
  }),
  fc.record({ binary: fc.uint8Array({ maxLength: 900 }) }),
);

const toRecord = (m: Message): StreamRecord =>
  'text' in m ? { kind: 't', body: m.text } : { kind: 'b', body: toBase64(m.binary) };

/** What a WebSocket would deliver for the text: lone surrogates become U+FFFD on the wire. */
const wellFormed = (text: string) => new TextDecoder().decode(encoder.encode(text));
const isWellFormed = (text: string) => wellFormed(text) === text;

/** Frames the sender writes for `messages` (with a close at the end), at most `limit` bytes each. */
function frameAll(messages: Message[], limit: number): string[] {
  const outbox = new Outbox();
  for (const m of messages) outbox.push(toRecord(m), 0);
  outbox.push({ kind: 'c', body: '1000 done' }, 0);
  const frames: string[] = [];
  for (let seq = 1; ; seq++) {
    const segment = outbox.next(limit - MAX_HEADER_BYTES);
    if (segment === undefined) break;
    // The wire carries what a WebSocket carries: well-formed UTF-8.
    const frame = new TextDecoder().decode(
      encoder.encode(dataFrame(seq, { ack: 0, ranges: [] }, segment)),
    );
    frames.push(frame);
  }
  return frames;
}

function receiveAll(inbox: Inbox, frames: string[]): StreamRecord[] {
  const records: StreamRecord[] = [];
  for (const frame of frames) {
    const parsed = parseFrame(frame);
    if (parsed?.type !== 'data') throw new Error(`not a data frame: ${frame.slice(0, 20)}`);
    records.push(...inbox.accept(parsed.seq, parsed.segment));
  }
  return records;
}

function expectDelivered(records: StreamRecord[], messages: Message[]): void {
  expect(records).toHaveLength(messages.length + 1);
  messages.forEach((m, i) => {
    const record = records[i]!;
    if ('text' in m) {
      expect(record.kind).toBe('t');
      expect(record.body).toBe(wellFormed(m.text));
    } else {
      expect(record.kind).toBe('b');
      expect(fromBase64(record.body)).toEqual(m.binary);
    }
  });
  expect(records.at(-1)).toEqual({ kind: 'c', body: '1000 done' });
}

describe('the wire format (version 1)', () => {
  it('delivers every message once, in order, whatever the order and repetition of frames', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 30 }),
        fc.integer({ min: 256, max: 2048 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, limit, swaps, duplicates) => {
          const frames = frameAll(messages, limit);
          for (const frame of frames) {
            expect(encoder.encode(frame).length).toBeLessThanOrEqual(limit);
            expect(frame[0]).not.toBe('{');
          }
          // Reorder by random swaps, then repeat random frames anywhere.
          const arrival = [...frames];
          for (const s of swaps) {
            const i = s % Math.max(1, arrival.length);
            const j = (s >> 4) % Math.max(1, arrival.length);
            [arrival[i], arrival[j]] = [arrival[j]!, arrival[i]!];
          }
          for (const d of duplicates)
            if (frames.length)
              arrival.splice(d % (arrival.length + 1), 0, frames[d % frames.length]!);
          expectDelivered(receiveAll(new Inbox(), arrival), messages);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('resumes after a cut at any point: the sender resends from the receiver’s acknowledgement', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 256, max: 1024 }),
        fc.nat(),
        fc.nat(),
        (messages, limit, cut, lost) => {
          const frames = frameAll(messages, limit);
          const inbox = new Inbox();
          // Before the cut some frames arrived, some in flight were lost with the old socket.
          const sent = cut % (frames.length + 1);
          const arrived = frames.slice(0, sent).filter((_, i) => (lost >> i) % 2 === 0);
          const before = receiveAll(inbox, arrived);
          // After resuming: every frame above the cumulative acknowledgement, again.
          const after = receiveAll(inbox, frames.slice(inbox.received));
          expectDelivered([...before, ...after], messages);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never splits a character across frames, wherever a frame ends', () => {
    // Every alignment of 1-, 2-, 3- and 4-byte characters against every budget near the limit.
    const text = 'a€🐟é'.repeat(50);
    for (let budget = 4; budget < 40; budget++) {
      const outbox = new Outbox();
      outbox.push({ kind: 't', body: text }, 0);
      const inbox = new Inbox();
      const records: StreamRecord[] = [];
      for (let seq = 1; !outbox.empty; seq++) {
        const segment = outbox.next(budget + 8)!;
        expect(utf8Bytes(segment)).toBeLessThanOrEqual(budget + 8);
        expect(isWellFormed(segment)).toBe(true);
        records.push(...inbox.accept(seq, segment));
      }
      expect(records).toEqual([{ kind: 't', body: text }]);
    }
  });

  it('carries every byte value through base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (data) => {
        const all = new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), ...data]);
        expect(fromBase64(toBase64(all))).toEqual(all);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses frames that are not the transport’s', () => {
    expect(parseFrame('{"message":"Too Many Requests"}')).toEqual({
      type: 'platform',
      text: '{"message":"Too Many Requests"}',
    });
    for (const bad of [
      '',
      'X1',
      'D.|',
      'D0.0|x',
      'Dz!.0|',
      'A',
      'A-1',
      'H.1',
      'H2.ab',
      'A5,3-4',
      'A1,4-3',
    ])
      expect(parseFrame(bad)).toBeUndefined();
    expect(() => new Inbox().accept(1, 'q5:hello')).toThrow(/malformed record header/);
  });
});

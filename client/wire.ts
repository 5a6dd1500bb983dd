/**
 * The SignalSocket wire format, version 1 (WIRE.md): how app messages become text frames and back.
 * Pure code, no I/O: the socket (index.ts) decides when frames go out; this module decides what
 * they contain. Lengths are in UTF-16 code units (JavaScript string lengths); frame budgets are
 * in UTF-8 bytes, as API Gateway counts a frame.
 */

/** The value of the `transport` query parameter that marks a transport relay socket. */
export const TRANSPORT_MARKER = 'signalsocket-1';

export type RecordKind = 't' | 'b' | 'c';

/** One app-level unit on the stream: a text or binary message, or the deliberate close. */
export interface StreamRecord {
  kind: RecordKind;
  /** Text as sent; base64 for binary; `<code> <reason>` for close. */
  body: string;
}

export type Frame =
  | { type: 'data'; seq: number; ack: number; segment: string }
  | { type: 'ack'; ack: number }
  | { type: 'hello'; session: string; ack: number }
  | { type: 'platform'; text: string };

export const dataFrame = (seq: number, ack: number, segment: string) =>
  `D${seq.toString(36)}.${ack.toString(36)}|${segment}`;
export const ackFrame = (ack: number) => `A${ack.toString(36)}`;
export const helloFrame = (session: string, ack: number) => `H${session}.${ack.toString(36)}`;

/** The most bytes a data frame's header can take (seq and ack below 2^53). */
export const MAX_HEADER_BYTES = 2 * 11 + 3;

const base36 = (text: string): number => {
  if (!/^[0-9a-z]{1,11}$/.test(text)) return NaN;
  return parseInt(text, 36);
};

/** Parses a frame read from a transport relay socket; undefined when it is not well-formed. */
export function parseFrame(text: string): Frame | undefined {
  const type = text[0];
  if (type === '{') return { type: 'platform', text };
  if (type === 'A') {
    const ack = base36(text.slice(1));
    return Number.isNaN(ack) ? undefined : { type: 'ack', ack };
  }
  if (type === 'H') {
    const dot = text.indexOf('.');
    const session = text.slice(1, dot);
    const ack = base36(text.slice(dot + 1));
    if (dot < 2 || Number.isNaN(ack) || !/^[0-9a-z]+$/.test(session)) return undefined;
    return { type: 'hello', session, ack };
  }
  if (type === 'D') {
    const dot = text.indexOf('.');
    const bar = text.indexOf('|');
    if (dot < 0 || bar < dot) return undefined;
    const seq = base36(text.slice(1, dot));
    const ack = base36(text.slice(dot + 1, bar));
    if (Number.isNaN(seq) || Number.isNaN(ack) || seq < 1) return undefined;
    return { type: 'data', seq, ack, segment: text.slice(bar + 1) };
  }
  return undefined;
}

// ---- UTF-8 accounting ------------------------------------------------------------------------

const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

/** UTF-8 bytes of `text[from, to)` as a WebSocket sends it (a lone surrogate becomes U+FFFD). */
export function utf8Bytes(text: string, from = 0, to = text.length): number {
  let bytes = 0;
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (isHigh(unit) && i + 1 < to && isLow(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The end of the longest piece of `text` from `from` that fits `budget` UTF-8 bytes and does not
 * split a surrogate pair (a split pair would reach the peer as two U+FFFD).
 */
export function cutAt(text: string, from: number, budget: number, ascii: boolean): number {
  if (ascii) return Math.min(text.length, from + budget);
  if ((text.length - from) * 3 <= budget) return text.length;
  let bytes = 0;
  let i = from;
  while (i < text.length) {
    const unit = text.charCodeAt(i);
    let units = 1;
    let size: number;
    if (unit < 0x80) size = 1;
    else if (unit < 0x800) size = 2;
    else if (isHigh(unit) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) {
      size = 4;
      units = 2;
    } else size = 3;
    if (bytes + size > budget) break;
    bytes += size;
    i += units;
  }
  return i;
}

// ---- base64, without Node's Buffer -------------------------------------------------------------

const CHUNK = 3 * 8192;

export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const slice = bytes.subarray(i, i + CHUNK);
    parts.push(btoa(String.fromCharCode.apply(null, slice as unknown as number[])));
  }
  return parts.join('');
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// ---- the sending side: records to segments ---------------------------------------------------

interface Pending {
  head: string;
  body: string;
  offset: number;
  headSent: boolean;
  ascii: boolean;
  /** What the app handed over, in bytes (bufferedAmount). */
  appBytes: number;
}

/** Below this many bytes left in a frame, a new record's header waits for the next frame. */
const MIN_ROOM = 16;

/**
 * Records queued by the app, cut into segments of at most a given number of UTF-8 bytes. A record
 * header is never split across segments; bodies are, anywhere but inside a surrogate pair.
 */
export class Outbox {
  private readonly queue: Pending[] = [];
  /** App bytes queued and not yet fully cut into segments. */
  buffered = 0;
  /** UTF-8 bytes of the segment next() returned last. */
  lastBytes = 0;

  push(record: StreamRecord, appBytes: number, ascii = record.kind !== 't'): void {
    this.queue.push({
      head: `${record.kind}${record.body.length.toString(36)}:`,
      body: record.body,
      offset: 0,
      headSent: false,
      ascii,
      appBytes,
    });
    this.buffered += appBytes;
  }

  get empty(): boolean {
    return this.queue.length === 0;
  }

  /** The next segment of at most `budget` UTF-8 bytes, or undefined when nothing is queued. */
  next(budget: number): string | undefined {
    const parts: string[] = [];
    let room = budget;
    while (this.queue.length > 0) {
      const pending = this.queue[0]!;
      if (!pending.headSent) {
        if (pending.head.length > room || (parts.length > 0 && room < MIN_ROOM)) break;
        parts.push(pending.head);
        room -= pending.head.length;
        pending.headSent = true;
      }
      const end = cutAt(pending.body, pending.offset, room, pending.ascii);
      if (end > pending.offset) {
        room -= pending.ascii ? end - pending.offset : utf8Bytes(pending.body, pending.offset, end);
        parts.push(pending.body.slice(pending.offset, end));
        pending.offset = end;
      }
      if (pending.offset < pending.body.length) break;
      this.queue.shift();
      this.buffered -= pending.appBytes;
    }
    this.lastBytes = budget - room;
    return parts.length > 0 ? parts.join('') : undefined;
  }
}

// ---- the receiving side: frames in any order to records in order --------------------------------

export class MalformedStream extends Error {}

/**
 * Segments by sequence number, in any order and any number of times, to records in order, each
 * exactly once. `received` is the highest sequence number up to which every segment arrived.
 */
export class Inbox {
  received = 0;
  /** Segment length (UTF-16 units) taken in order so far. */
  receivedUnits = 0;
  private readonly early = new Map<number, string>();
  private current: { kind: RecordKind; remaining: number; parts: string[] } | undefined;

  /** Frames that arrived ahead of a gap. */
  get waiting(): number {
    return this.early.size;
  }

  /** Takes a segment; returns the records it completed (none for a duplicate). */
  accept(seq: number, segment: string): StreamRecord[] {
    if (seq <= this.received || this.early.has(seq)) return [];
    this.early.set(seq, segment);
    const records: StreamRecord[] = [];
    for (let next = this.early.get(this.received + 1); next !== undefined;) {
      this.early.delete(this.received + 1);
      this.received++;
      this.receivedUnits += next.length;
      this.parse(next, records);
      next = this.early.get(this.received + 1);
    }
    return records;
  }

  private parse(segment: string, records: StreamRecord[]): void {
    let i = 0;
    while (i < segment.length) {
      if (!this.current) {
        const kind = segment[i];
        const colon = segment.indexOf(':', i + 1);
        const length = colon < 0 ? NaN : base36(segment.slice(i + 1, colon));
        if ((kind !== 't' && kind !== 'b' && kind !== 'c') || Number.isNaN(length))
          throw new MalformedStream(`malformed record header at ${i}`);
        this.current = { kind, remaining: length, parts: [] };
        i = colon + 1;
      }
      const take = Math.min(this.current.remaining, segment.length - i);
      if (take > 0) this.current.parts.push(segment.slice(i, i + take));
      i += take;
      this.current.remaining -= take;
      if (this.current.remaining > 0) break;
      records.push({ kind: this.current.kind, body: this.current.parts.join('') });
      this.current = undefined;
    }
  }
}

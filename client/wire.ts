/**
 * The SignalSocket wire format, version 2 (WIRE.md): how app messages become text frames and back.
 * Pure code, no I/O: the socket (socket.ts, relay.ts) decides when frames go out; this module
 * decides what they contain. The server imports its two constants, so that both sides name them once. Lengths are in UTF-16 code units (JavaScript string lengths); frame budgets are
 * in UTF-8 bytes, as API Gateway counts a frame.
 */

/**
 * The value of the `transport` query parameter that marks a transport relay socket. It names what
 * the server relies on (frames never begin with `{`, the hello is held until the peer comes), which
 * version 2 keeps; the wire version itself is negotiated in the hello.
 */
export const TRANSPORT_MARKER = 'signalsocket-1';
/**
 * What a SignalSocket sends on a quiet introduction socket so that neither API Gateway nor
 * CloudFront cuts it; the server answers it with nothing (docs/protocol.md, "Keep-alive").
 */
export const KEEP_ALIVE_INTRODUCTION = '{"type":"KeepAlive"}';
/** The wire version this code speaks, carried by every hello. */
export const WIRE_VERSION = '2';

/**
 * The window: at most this many frames, and bytes, between the peer's cumulative acknowledgement
 * and our next frame, and copies written on the current socket and not acknowledged (WIRE.md).
 * The server holds at most those and stale copies of frames acknowledged meanwhile: twice the
 * window, below its hold bounds of 256 frames and 1 MiB (with room for hellos and acknowledgements).
 */
export const WINDOW_FRAMES = 64;
export const WINDOW_BYTES = 448 * 1024;
/** Selective-acknowledgement ranges a data frame carries at most (an `A` frame: 16). */
export const DATA_RANGES = 4;
export const ACK_RANGES = 16;

export type RecordKind = 't' | 'b' | 'c';

/** One app-level unit on the stream: a text or binary message, or the deliberate close. */
export interface StreamRecord {
  kind: RecordKind;
  /** Text as sent; base64 for binary; `<code> <reason>` for close. */
  body: string;
}

/** An acknowledgement: every frame up to `ack`, and the frames in `ranges` ([first, last] pairs). */
export interface Acks {
  ack: number;
  ranges: number[];
}

export type Frame =
  | { type: 'data'; seq: number; urgent: boolean; acks: Acks; segment: string }
  | { type: 'ack'; acks: Acks }
  | { type: 'hello'; version: string; session: string; peer: string; acks: Acks }
  | { type: 'platform'; text: string };

const b36 = (n: number) => n.toString(36);

/** `<ack>` then `,<first>-<last>` per range. */
export function ackField({ ack, ranges }: Acks): string {
  let text = b36(ack);
  for (let i = 0; i < ranges.length; i += 2) text += `,${b36(ranges[i]!)}-${b36(ranges[i + 1]!)}`;
  return text;
}

export const dataFrame = (seq: number, acks: Acks, segment: string, urgent = false) =>
  `${urgent ? 'd' : 'D'}${b36(seq)}.${ackField(acks)}|${segment}`;
export const ackFrame = (acks: Acks) => `A${ackField(acks)}`;
export const helloFrame = (session: string, peer: string, acks: Acks) =>
  `H${WIRE_VERSION}.${session}.${peer}.${ackField(acks)}`;

/** The most bytes a data frame's header can take (numbers below 2^53, DATA_RANGES ranges). */
export const MAX_HEADER_BYTES = 3 + 2 * 11 + DATA_RANGES * (3 + 2 * 11);

const base36 = (text: string | undefined): number => {
  if (text === undefined || !/^[0-9a-z]{1,11}$/.test(text)) return NaN;
  return parseInt(text, 36);
};

/** Reads an ack field; undefined unless its ranges ascend above the cumulative ack, apart. */
function parseAcks(text: string): Acks | undefined {
  const [head, ...rest] = text.split(',');
  const ack = base36(head);
  const ranges: number[] = [];
  let floor = ack + 1;
  for (const range of rest) {
    const [first, last] = range.split('-').map(base36) as [number, number];
    if (!(first > floor && last >= first)) return undefined;
    ranges.push(first, last);
    floor = last + 1;
  }
  return Number.isNaN(ack) || ranges.length > 2 * ACK_RANGES ? undefined : { ack, ranges };
}

/** Parses a frame read from a transport relay socket; undefined when it is not well-formed. */
export function parseFrame(text: string): Frame | undefined {
  const type = text[0];
  if (type === '{') return { type: 'platform', text };
  if (type === 'A') {
    const acks = parseAcks(text.slice(1));
    return acks && { type: 'ack', acks };
  }
  if (type === 'H') {
    const [version, session, peer, field] = text.slice(1).split('.');
    // Another version's hello is reported as such, whatever its form (version 1 had no version).
    if (!/^[0-9a-z]+$/.test(version!)) return undefined;
    if (version !== WIRE_VERSION)
      return {
        type: 'hello',
        version: version!,
        session: '',
        peer: '',
        acks: { ack: 0, ranges: [] },
      };
    const acks = parseAcks(field ?? '');
    if (!acks || !/^[0-9a-z]+$/.test(session ?? '') || !/^[0-9a-z]*$/.test(peer ?? ''))
      return undefined;
    return { type: 'hello', version, session: session!, peer: peer!, acks };
  }
  if (type === 'D' || type === 'd') {
    const dot = text.indexOf('.');
    const bar = text.indexOf('|');
    if (dot < 0 || bar < dot) return undefined;
    const seq = base36(text.slice(1, dot));
    const acks = parseAcks(text.slice(dot + 1, bar));
    if (Number.isNaN(seq) || !acks || seq < 1) return undefined;
    return { type: 'data', seq, urgent: type === 'd', acks, segment: text.slice(bar + 1) };
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
  /** Records from `head` on are pending; the array is compacted now and then, never shifted. */
  #queue: Pending[] = [];
  #head = 0;
  /** App bytes queued and not yet fully cut into segments. */
  buffered = 0;
  /** UTF-8 bytes of the segment next() returned last. */
  lastBytes = 0;

  /** Binary bodies are base64 (ASCII); text and a close's reason are counted in UTF-8 bytes. */
  push(record: StreamRecord, appBytes: number, ascii = record.kind === 'b'): void {
    this.#queue.push({
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
    return this.#head === this.#queue.length;
  }

  /** The next segment of at most `budget` UTF-8 bytes, or undefined when nothing is queued. */
  next(budget: number): string | undefined {
    const parts: string[] = [];
    let room = budget;
    while (!this.empty) {
      const pending = this.#queue[this.#head]!;
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
      this.#head++;
      this.buffered -= pending.appBytes;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
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
  readonly #early = new Map<number, string>();
  #current: { kind: RecordKind; remaining: number; parts: string[] } | undefined;

  /** The first `max` runs of frames held ahead of a gap, as [first, last] pairs. */
  ranges(max: number): number[] {
    const ranges: number[] = [];
    const held = [...this.#early.keys()].sort((a, b) => a - b);
    for (const seq of held) {
      if (ranges.at(-1) === seq - 1) ranges[ranges.length - 1] = seq;
      else if (ranges.length < 2 * max) ranges.push(seq, seq);
      else break;
    }
    return ranges;
  }

  /** Whether the frame is here already (delivered, or held ahead of a gap). */
  has(seq: number): boolean {
    return seq <= this.received || this.#early.has(seq);
  }

  /** Takes a segment; returns the records it completed (none for a duplicate). */
  accept(seq: number, segment: string): StreamRecord[] {
    if (seq <= this.received || this.#early.has(seq)) return [];
    this.#early.set(seq, segment);
    const records: StreamRecord[] = [];
    for (let next = this.#early.get(this.received + 1); next !== undefined;) {
      this.#early.delete(this.received + 1);
      this.received++;
      this.#parse(next, records);
      next = this.#early.get(this.received + 1);
    }
    return records;
  }

  #parse(segment: string, records: StreamRecord[]): void {
    let i = 0;
    while (i < segment.length) {
      if (!this.#current) {
        const kind = segment[i];
        const colon = segment.indexOf(':', i + 1);
        const length = colon < 0 ? NaN : base36(segment.slice(i + 1, colon));
        if ((kind !== 't' && kind !== 'b' && kind !== 'c') || Number.isNaN(length))
          throw new MalformedStream(`malformed record header at ${i}`);
        this.#current = { kind, remaining: length, parts: [] };
        i = colon + 1;
      }
      const take = Math.min(this.#current.remaining, segment.length - i);
      if (take > 0) this.#current.parts.push(segment.slice(i, i + take));
      i += take;
      this.#current.remaining -= take;
      if (this.#current.remaining > 0) break;
      records.push({ kind: this.#current.kind, body: this.#current.parts.join('') });
      this.#current = undefined;
    }
  }
}

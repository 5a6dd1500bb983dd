/**
 * The send side of a relay stream (WIRE.md): app messages become records in the outbox, the
 * outbox becomes numbered frames within the window, paced once API Gateway throttles, and frames
 * are resent when selective acknowledgements or a timeout derived from round trips show them lost,
 * until our close is acknowledged.
 */
import { CLOSE_CODES, type ResolvedOptions } from './options.js';
import { globals } from './dom.js';
import { Pacer } from './pacer.js';
import {
  MAX_HEADER_BYTES,
  Outbox,
  WINDOW_BYTES,
  WINDOW_FRAMES,
  toBase64,
  utf8Bytes,
  type Acks,
  type StreamRecord,
} from './wire.js';

export type Payload = string | ArrayBuffer | ArrayBufferView | Blob;

/** Past two thirds of the window, a frame asks for an acknowledgement at once (one at a time). */
const URGENT_FRAMES = (WINDOW_FRAMES * 2) / 3;
const URGENT_BYTES = (WINDOW_BYTES * 2) / 3;
/** Frames held ahead of a gap may be that late (ms) before a later frame's delivery proves them lost. */
const MIN_REORDER_MS = 10;

interface Sent {
  seq: number;
  segment: string;
  bytes: number;
  /** The last write: when, and its place among all writes (RACK's order). */
  sentAt: number;
  order: number;
  /** Copies on the current socket not acknowledged; written again; held by the peer; to resend. */
  copies: number;
  resent: boolean;
  sacked: boolean;
  lost: boolean;
}

/** What the sender needs of the socket it sends through. */
export interface SendLink {
  /** The handshake is done on an open socket and the stream goes on: data frames may be written. */
  canSend(): boolean;
  /** Writes a data frame (it carries the receive side's acknowledgement). */
  writeData(seq: number, segment: string, urgent: boolean): void;
  fail(code: number, reason: string): void;
  /** The peer acknowledged our close; the peer has more of the stream than before. */
  closeAcknowledged(): void;
  progress(): void;
}

export class Sender {
  readonly #outbox = new Outbox();
  readonly #pacer = new Pacer();
  #nextSeq = 1;
  /** Every frame written and not cumulatively acknowledged, in seq order. */
  #frames: Sent[] = [];
  #windowBytes = 0;
  /**
   * Copies written on the current socket and not acknowledged, at most a window: the server may
   * hold them, and stale copies of frames acknowledged meanwhile, so at most twice the window.
   */
  #copyFrames = 0;
  #copyBytes = 0;
  /** The last of our frames the peer acknowledged (cumulatively). */
  acked = 0;
  #order = 0;
  #lastSentAt = 0;
  /** RACK: the newest frame delivered (in write order), and its round trip. */
  #rackOrder = 0;
  #rackRtt = 0;
  /** The frame whose copy asked for an acknowledgement at once, until it is acknowledged. */
  #urgentFrame: Sent | undefined;
  #urgentNext = false;
  /** The timeout fired: one frame may go beyond the copy bound. */
  #probe = false;
  #backoff = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpQueued = false;
  /** Sends waiting for a Blob ahead of them to be read, to keep their order. */
  #chain: Promise<void> | undefined;
  #chained = 0;
  #chainedBytes = 0;
  /** The close the app asked for (or the one an unreadable Blob forced). */
  closeRequest: { code: number; reason: string } | undefined;
  #closeQueued = false;
  #closeSeq: number | undefined;
  /** Data frames written, and of those, copies written again (the counters). */
  dataFrames = 0;
  resentFrames = 0;

  readonly #link: SendLink;
  readonly #options: ResolvedOptions;

  constructor(link: SendLink, options: ResolvedOptions) {
    this.#link = link;
    this.#options = options;
  }

  /** App bytes accepted and not yet written. */
  get buffered(): number {
    return this.#outbox.buffered + this.#chainedBytes;
  }

  /** Frames written and not yet acknowledged. */
  get unacknowledged(): number {
    return this.#frames.length;
  }

  /** Any frame went out on the socket: it took a token of the throttle, if the gateway took it. */
  onWrite(): void {
    this.#pacer.onWrite(Date.now());
  }

  /** A frame of the peer's arrived (it took a token of the throttle that both sides share). */
  onHeard(): void {
    this.#pacer.onHeard();
  }

  /** Queues an app message: text as it is, binary in base64 (a Blob once read, in its turn). */
  send(data: Payload): void {
    if (typeof data === 'string') {
      this.#enqueue({ kind: 't', body: data }, utf8Bytes(data));
    } else if (globals.Blob && data instanceof globals.Blob) {
      const blob = data;
      this.#enqueue(
        blob
          .arrayBuffer()
          .then((buffer) => ({ kind: 'b', body: toBase64(new Uint8Array(buffer)) })),
        blob.size,
      );
    } else {
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data as ArrayBuffer);
      this.#enqueue({ kind: 'b', body: toBase64(bytes) }, bytes.length);
    }
  }

  /** Queues the app's close after everything sent before it. */
  close(code: number, reason: string): void {
    this.closeRequest = { code, reason };
    this.#enqueue({ kind: 'c', body: `${code} ${reason}` }, 0);
  }

  /**
   * A new socket: the server dropped whatever it held for the old one, so every frame the peer
   * has not acknowledged goes again, at a pace learnt afresh.
   */
  onNewSocket(): void {
    for (const frame of this.#frames) {
      frame.copies = 0;
      frame.lost = !frame.sacked;
    }
    this.#copyFrames = 0;
    this.#copyBytes = 0;
    this.#urgentFrame = undefined;
    this.#pacer.reset(Date.now());
    this.stop();
  }

  stop(): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#pumpTimer);
    this.#timer = this.#pumpTimer = undefined;
  }

  #enqueue(record: StreamRecord | Promise<StreamRecord>, appBytes: number): void {
    if (!this.#chain && !(record instanceof Promise)) {
      this.#push(record, appBytes);
      return;
    }
    this.#chained++;
    this.#chainedBytes += appBytes;
    this.#chain = (this.#chain ?? Promise.resolve()).then(async () => {
      let resolved: StreamRecord;
      try {
        resolved = await record;
      } catch {
        // An unreadable Blob: a WebSocket fails the connection; so does the stream.
        resolved = { kind: 'c', body: '1011 a Blob could not be read' };
        this.closeRequest ??= { code: 1011, reason: 'a Blob could not be read' };
      }
      this.#chainedBytes -= appBytes;
      if (--this.#chained === 0) this.#chain = undefined;
      this.#push(resolved, appBytes);
    });
  }

  #push(record: StreamRecord, appBytes: number): void {
    if (this.#closeQueued) return;
    this.#outbox.push(record, appBytes);
    if (record.kind === 'c') this.#closeQueued = true;
    this.schedulePump();
  }

  /** Sends coalesce within a task: a burst of small messages shares frames. */
  schedulePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.pump();
    });
  }

  #pumpAt(time: number): void {
    if (this.#pumpTimer !== undefined) return;
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      this.pump();
    }, time - Date.now());
  }

  /**
   * Writes lost frames first, then new ones, within the window, the copy bound and the pace.
   * True when a frame waits for its slot in the pace: it will carry the acknowledgement.
   */
  pump(): boolean {
    if (!this.#link.canSend()) return false;
    const budget = this.#options.maxFrameBytes - MAX_HEADER_BYTES;
    for (;;) {
      const lost = this.#frames.find((frame) => frame.lost);
      const fresh =
        !lost &&
        !this.#outbox.empty &&
        this.#frames.length < WINDOW_FRAMES &&
        (this.#frames.length === 0 || this.#windowBytes + budget <= WINDOW_BYTES);
      const bytes = lost?.bytes ?? budget;
      if (!(lost || fresh)) break;
      // A probe goes whatever the copy bound: copies the bound counts may have been dropped
      // unseen (an error frame does not say which frame it was).
      const full = this.#copyFrames >= WINDOW_FRAMES || this.#copyBytes + bytes > WINDOW_BYTES;
      if (full && !(this.#probe && lost)) break;
      const now = Date.now();
      const slot = this.#pacer.slot(now);
      if (slot > now) {
        this.#pumpAt(slot);
        return true;
      }
      let frame = lost;
      this.#probe = false;
      if (frame) {
        frame.lost = false;
        frame.resent = true;
        this.resentFrames++;
      } else {
        const segment = this.#outbox.next(budget)!;
        frame = { seq: this.#nextSeq++, segment, bytes: this.#outbox.lastBytes } as Sent;
        frame.copies = 0;
        this.#frames.push(frame);
        this.#windowBytes += frame.bytes;
        if (this.#closeQueued && this.#outbox.empty) this.#closeSeq ??= frame.seq;
      }
      this.#write(frame, now);
    }
    return false;
  }

  #write(frame: Sent, now: number): void {
    frame.copies++;
    this.#copyFrames++;
    this.#copyBytes += frame.bytes;
    frame.sentAt = this.#lastSentAt = now;
    frame.order = ++this.#order;
    // Ask for an acknowledgement at once when the window runs short, one such frame at a time
    // (again once it is acknowledged, or dropped), and after a probe timeout; otherwise the
    // receiver waits until ackDelayMs after the last frame it read.
    const urgent =
      this.#urgentNext ||
      (!this.#urgentFrame &&
        (this.#frames.length >= URGENT_FRAMES || this.#windowBytes >= URGENT_BYTES));
    if (urgent) this.#urgentFrame = frame;
    this.#urgentNext = false;
    this.dataFrames++;
    this.#link.writeData(frame.seq, frame.segment, urgent);
    this.#arm();
  }

  /** The peer's acknowledgement: cumulative, and selective for frames it holds ahead of a gap. */
  onAcks({ ack, ranges }: Acks): void {
    if (Math.max(ack, ranges.at(-1) ?? 0) >= this.#nextSeq)
      return this.#link.fail(CLOSE_CODES.PROTOCOL_ERROR, 'ack of an unsent frame');
    const now = Date.now();
    let newest: Sent | undefined;
    const deliver = (frame: Sent) => {
      // Whichever copy of it arrived: the next frame may ask again.
      if (frame === this.#urgentFrame) this.#urgentFrame = undefined;
      if (!frame.sacked && (!newest || frame.order > newest.order)) newest = frame;
      this.#copyFrames -= frame.copies;
      this.#copyBytes -= frame.copies * frame.bytes;
      frame.copies = 0;
      frame.sacked = true;
      frame.lost = false;
    };
    let done = 0;
    for (; done < this.#frames.length && this.#frames[done]!.seq <= ack; done++) {
      deliver(this.#frames[done]!);
      this.#windowBytes -= this.#frames[done]!.bytes;
    }
    if (done > 0) {
      this.#frames = this.#frames.slice(done);
      this.acked = ack;
    }
    for (let i = 0; i < ranges.length; i += 2)
      for (const frame of this.#frames)
        if (frame.seq >= ranges[i]! && frame.seq <= ranges[i + 1]!) deliver(frame);
    if (newest) this.#onDelivered(newest, now);
    if (this.#closeSeq !== undefined && this.acked >= this.#closeSeq)
      return this.#link.closeAcknowledged();
    this.#detectLosses(now);
    this.#arm();
    this.schedulePump();
  }

  /** Round-trip and RACK bookkeeping for the newest frame an ack delivered. */
  #onDelivered(newest: Sent, now: number): void {
    const rtt = now - newest.sentAt;
    this.#link.progress();
    this.#backoff = 0;
    if (!newest.resent) this.#pacer.onRtt(rtt);
    // An ack of an earlier copy of a resent frame would make the RTT look too short: skipped.
    if (newest.order > this.#rackOrder && (!newest.resent || rtt >= this.#pacer.minRtt)) {
      this.#rackOrder = newest.order;
      this.#rackRtt = rtt;
    }
  }

  /**
   * RACK: a frame written before one the peer has is lost once it is later than that frame's
   * round trip plus a reordering allowance. Returns when the next such verdict is due.
   */
  #detectLosses(now: number): number {
    const allowance = Math.max(this.#pacer.minRtt / 4, MIN_REORDER_MS);
    let next = Infinity;
    for (const frame of this.#frames) {
      if (frame.sacked || frame.lost || frame.copies === 0 || frame.order >= this.#rackOrder)
        continue;
      const due = frame.sentAt + this.#rackRtt + allowance;
      if (due <= now) frame.lost = true;
      else next = Math.min(next, due);
    }
    return next;
  }

  /** One timer: the next RACK verdict, or the probe timeout after the last write. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#frames.some((frame) => !frame.sacked)) return;
    const now = Date.now();
    const probe =
      this.#lastSentAt +
      this.#pacer.timeout(
        this.#options.ackDelayMs,
        this.#urgentFrame !== undefined,
        this.#backoff,
        this.#options.retransmitMs,
      );
    const at = Math.min(this.#detectLosses(now), probe);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() >= probe) this.#onTimeout();
      this.#detectLosses(Date.now());
      this.#arm();
      this.pump();
    }, at - now);
  }

  /**
   * Nothing acknowledged in time: every frame not acknowledged goes again (API Gateway drops
   * throttled frames), within the copy bound (an absent peer's frames are held, and acknowledged
   * later), and the timeout backs off.
   */
  #onTimeout(): void {
    this.#backoff = Math.min(this.#backoff + 1, 6);
    this.#urgentNext = true;
    this.#urgentFrame = undefined;
    this.#probe = true;
    for (const frame of this.#frames) frame.lost = !frame.sacked;
  }

  /**
   * API Gateway dropped a frame of ours (throttled, or an internal error): pace. Unless it was an
   * acknowledgement, the copy written last is taken as the one dropped (the gateway answers at
   * once, so most likely it was): the copy bound regains it, and with no copy left it is resent.
   * A wrong guess costs a duplicate; the frame actually dropped is found by the selective
   * acknowledgements. Only a dropped frame that asked for an acknowledgement at once makes the
   * next one ask (every drop did, and under a throttle kept busy a fifth of the frames are
   * dropped: in a one-way stream that was an acknowledgement frame of its own for every few
   * data frames).
   */
  throttled(lastWasData: boolean): void {
    this.#pacer.onThrottled(Date.now());
    if (!lastWasData) return;
    let last: Sent | undefined;
    for (const frame of this.#frames)
      if (frame.copies > 0 && (!last || frame.order > last.order)) last = frame;
    if (!last) return;
    // The copy that asked for an acknowledgement at once: the next frame asks again.
    if (last === this.#urgentFrame) {
      this.#urgentFrame = undefined;
      this.#urgentNext = true;
    }
    last.copies--;
    this.#copyFrames--;
    this.#copyBytes -= last.bytes;
    if (last.copies === 0) {
      // At once, in its slot of the pace: nothing else may come to write it (the peer may be
      // waiting for this very frame's acknowledgement, which was dropped with it).
      last.lost = true;
      this.schedulePump();
    }
  }
}

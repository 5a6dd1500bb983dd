/**
 * The send side of a relay stream (WIRE.md): app messages become records in the outbox, the
 * outbox becomes numbered frames within the window, paced when API Gateway throttles, and
 * frames not acknowledged in time are resent, until our close is acknowledged.
 */
import { CLOSE_CODES, type ResolvedOptions } from './options.js';
import { globals } from './dom.js';
import { MAX_HEADER_BYTES, Outbox, toBase64, utf8Bytes, type StreamRecord } from './wire.js';

export type Payload = string | ArrayBuffer | ArrayBufferView | Blob;

/**
 * Frames and bytes written on the current socket and not acknowledged, resent copies included, at
 * most. The server holds a socket's frames until its peer has them, at most 256 frames and 1 MiB:
 * held frames are at most those in flight plus stale copies of frames acknowledged meanwhile, so
 * twice the window, which stays below both bounds.
 */
export const WINDOW_FRAMES = 64;
export const WINDOW_BYTES = 384 * 1024;
/** The oldest frame in flight may be resent beyond the window this many times (it blocks all). */
const MAX_COPIES = 3;

interface InFlight {
  seq: number;
  segment: string;
  bytes: number;
  /** Times written on the current socket. */
  copies: number;
}

/** What the sender needs of the socket it sends through. */
export interface SendLink {
  /** The handshake is done on an open socket and the stream goes on: data frames may be written. */
  canSend(): boolean;
  /** Writes a data frame (it carries the receive side's acknowledgement). */
  writeData(seq: number, segment: string): void;
  fail(code: number, reason: string): void;
  /** The peer acknowledged our close. */
  closeAcknowledged(): void;
}

export class Sender {
  private readonly outbox = new Outbox();
  private nextSeq = 1;
  private inFlight: InFlight[] = [];
  /** Written on the current socket and not acknowledged, resent copies included. */
  private inFlightBytes = 0;
  private inFlightFrames = 0;
  private resendFrom = 0;
  private ackedValue = 0;
  private retransmitTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpQueued = false;
  private paceMs = 0;
  private nextSendAt = 0;
  private pausedUntil = 0;
  /** Sends waiting for a Blob ahead of them to be read, to keep their order. */
  private chain: Promise<void> | undefined;
  private chained = 0;
  private chainedBytes = 0;
  private closeRequestValue: { code: number; reason: string } | undefined;
  private closeQueued = false;
  private closeSeq: number | undefined;

  constructor(
    private readonly link: SendLink,
    private readonly options: ResolvedOptions,
  ) {}

  /** App bytes accepted and not yet written. */
  get buffered(): number {
    return this.outbox.buffered + this.chainedBytes;
  }

  /** The last of our frames the peer acknowledged. */
  get acked(): number {
    return this.ackedValue;
  }

  /** The close the app asked for (or the one an unreadable Blob forced). */
  get closeRequest(): { code: number; reason: string } | undefined {
    return this.closeRequestValue;
  }

  /** Queues an app message: text as it is, binary in base64 (a Blob once read, in its turn). */
  send(data: Payload): void {
    if (typeof data === 'string') {
      this.enqueue({ kind: 't', body: data }, utf8Bytes(data));
    } else if (globals.Blob && data instanceof globals.Blob) {
      const blob = data;
      this.enqueue(
        blob
          .arrayBuffer()
          .then((buffer) => ({ kind: 'b', body: toBase64(new Uint8Array(buffer)) })),
        blob.size,
      );
    } else {
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data as ArrayBuffer);
      this.enqueue({ kind: 'b', body: toBase64(bytes) }, bytes.length);
    }
  }

  /** Queues the app's close after everything sent before it. */
  close(code: number, reason: string): void {
    this.closeRequestValue = { code, reason };
    this.enqueue({ kind: 'c', body: `${code} ${reason}` }, 0);
  }

  /** A new socket: the server dropped whatever it held for the old one. */
  onNewSocket(): void {
    for (const frame of this.inFlight) frame.copies = 0;
    this.inFlightBytes = 0;
    this.inFlightFrames = 0;
  }

  /** Whatever is in flight is resent, from the first frame not acknowledged. */
  resendAll(): void {
    this.resendFrom = 0;
  }

  stopRetransmit(): void {
    if (this.retransmitTimer !== undefined) clearTimeout(this.retransmitTimer);
    this.retransmitTimer = undefined;
  }

  stop(): void {
    this.stopRetransmit();
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
  }

  private enqueue(record: StreamRecord | Promise<StreamRecord>, appBytes: number): void {
    if (!this.chain && !(record instanceof Promise)) {
      this.push(record, appBytes);
      return;
    }
    this.chained++;
    this.chainedBytes += appBytes;
    this.chain = (this.chain ?? Promise.resolve()).then(async () => {
      let resolved: StreamRecord;
      try {
        resolved = await record;
      } catch {
        // An unreadable Blob: a WebSocket fails the connection; so does the stream.
        resolved = { kind: 'c', body: '1011 a Blob could not be read' };
        this.closeRequestValue ??= { code: 1011, reason: 'a Blob could not be read' };
      }
      this.chainedBytes -= appBytes;
      if (--this.chained === 0) this.chain = undefined;
      this.push(resolved, appBytes);
    });
  }

  private push(record: StreamRecord, appBytes: number): void {
    if (this.closeQueued) return;
    this.outbox.push(record, appBytes);
    if (record.kind === 'c') this.closeQueued = true;
    this.schedulePump();
  }

  /** Sends coalesce within a task: a burst of small messages shares frames. */
  schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pumpAt(time: number): void {
    if (this.pumpTimer !== undefined) return;
    this.pumpTimer = setTimeout(
      () => {
        this.pumpTimer = undefined;
        this.pump();
      },
      Math.max(0, time - Date.now()),
    );
  }

  pump(): void {
    if (!this.link.canSend()) return;
    if (Date.now() < this.pausedUntil) return this.pumpAt(this.pausedUntil);
    const budget = this.options.maxFrameBytes - MAX_HEADER_BYTES;
    for (;;) {
      const resend = this.resendFrom < this.inFlight.length;
      const room = this.inFlightFrames < WINDOW_FRAMES && this.inFlightBytes < WINDOW_BYTES;
      if (resend) {
        const next = this.inFlight[this.resendFrom]!;
        const oldest = this.resendFrom === 0 && next.copies < MAX_COPIES;
        if (!oldest && !(room && this.inFlightBytes + next.bytes <= WINDOW_BYTES)) break;
      } else if (this.outbox.empty || !room) break;
      if (this.paceMs > 0) {
        const now = Date.now();
        if (now < this.nextSendAt) return this.pumpAt(this.nextSendAt);
        this.nextSendAt = now + this.paceMs;
      }
      let frame: InFlight;
      if (resend) frame = this.inFlight[this.resendFrom++]!;
      else {
        const segment = this.outbox.next(budget);
        if (segment === undefined) break;
        frame = { seq: this.nextSeq++, segment, bytes: this.outbox.lastBytes, copies: 0 };
        this.inFlight.push(frame);
        this.resendFrom = this.inFlight.length;
        if (this.closeQueued && this.outbox.empty) this.closeSeq ??= frame.seq;
      }
      frame.copies++;
      this.inFlightBytes += frame.bytes;
      this.inFlightFrames++;
      this.link.writeData(frame.seq, frame.segment);
      this.armRetransmit();
    }
  }

  private armRetransmit(): void {
    if (this.retransmitTimer !== undefined) return;
    this.retransmitTimer = setTimeout(() => {
      this.retransmitTimer = undefined;
      if (this.inFlight.length === 0) return;
      // Nothing acknowledged for retransmitMs: the copies sent are taken as lost (API Gateway drops
      // throttled frames), so they stop filling the window, which would otherwise stay full.
      for (const frame of this.inFlight) frame.copies = 0;
      this.inFlightFrames = 0;
      this.inFlightBytes = 0;
      this.resendFrom = 0;
      this.pump();
    }, this.options.retransmitMs);
  }

  onAck(ack: number): void {
    if (ack <= this.ackedValue) return;
    if (ack >= this.nextSeq)
      return this.link.fail(CLOSE_CODES.PROTOCOL_ERROR, 'ack of an unsent frame');
    this.ackedValue = ack;
    let done = 0;
    for (; done < this.inFlight.length && this.inFlight[done]!.seq <= ack; done++) {
      const frame = this.inFlight[done]!;
      this.inFlightBytes -= frame.bytes * frame.copies;
      this.inFlightFrames -= frame.copies;
    }
    this.inFlight = this.inFlight.slice(done);
    this.resendFrom = Math.max(0, this.resendFrom - done);
    this.stopRetransmit();
    if (this.inFlight.length > 0) this.armRetransmit();
    // Recovering from a throttle: speed up again while acknowledgements come.
    this.paceMs = this.paceMs > 1 ? this.paceMs * 0.8 : 0;
    if (this.closeSeq !== undefined && ack >= this.closeSeq) return this.link.closeAcknowledged();
    this.schedulePump();
  }

  /**
   * API Gateway dropped one of our frames (throttled, or an internal error): slow down, then
   * resend what is not acknowledged. False when already paused for an earlier drop.
   */
  throttle(): boolean {
    const now = Date.now();
    if (now < this.pausedUntil) return false;
    this.paceMs = Math.min(1_000, Math.max(10, this.paceMs * 2));
    this.pausedUntil = now + Math.max(200, this.paceMs * 10);
    this.resendFrom = 0;
    return true;
  }

  /** Sends again once the pause of the last throttle is over. */
  pumpAfterPause(): void {
    this.pumpAt(this.pausedUntil);
  }
}

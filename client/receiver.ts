/**
 * The receive side of a relay stream (WIRE.md): data frames become the app's records in order,
 * exactly once, and are acknowledged (cumulatively and selectively), on a frame going out anyway
 * where one does soon enough, else on an acknowledgement frame of its own: at once when the peer
 * asks or needs it, otherwise ackDelayMs after the last data frame arrived.
 */
import { globals } from './dom.js';
import { CLOSE_CODES, type ResolvedOptions } from './options.js';
import {
  ACK_RANGES,
  DATA_RANGES,
  Inbox,
  MalformedStream,
  WINDOW_FRAMES,
  ackFrame,
  fromBase64,
  type Acks,
  type StreamRecord,
} from './wire.js';

/** After an error frame, the acknowledgement is written again this long after (doubling). */
const ACK_RETRY_MS = 50;
const ACK_RETRY_MAX_MS = 400;

/** What the receiver needs of the socket it acknowledges through. */
export interface ReceiveLink {
  /**
   * Writes what the send side may write now (its data frames carry the acknowledgement); true
   * when a data frame waits for its slot in the pace.
   */
  pump(): boolean;
  write(frame: string): void;
  fail(code: number, reason: string): void;
}

export class Receiver {
  readonly #inbox = new Inbox();
  /** Data frames accepted since a frame carrying our acknowledgement last went out. */
  #owed = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** The timer writes again an acknowledgement that may have been dropped. */
  #retrying = false;
  #soon = false;
  #retryMs = ACK_RETRY_MS;
  /** Acknowledgement-only frames written (the counters' share of them). */
  ackFrames = 0;

  readonly #link: ReceiveLink;
  readonly #options: ResolvedOptions;

  constructor(link: ReceiveLink, options: ResolvedOptions) {
    this.#link = link;
    this.#options = options;
  }

  /** The frames received in order. */
  get received(): number {
    return this.#inbox.received;
  }

  /** What a frame of ours acknowledges: a data frame carries fewer ranges than an `A` frame. */
  acks(ranges = DATA_RANGES): Acks {
    return { ack: this.#inbox.received, ranges: this.#inbox.ranges(ranges) };
  }

  /** A frame carrying our acknowledgement went out. */
  acknowledged(): void {
    this.#owed = 0;
    this.stop();
  }

  stop(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#retrying = false;
  }

  /**
   * The records a data frame completes, in order; undefined when it broke the stream (failed).
   * `urgent`: the peer asked for an acknowledgement at once.
   */
  accept(seq: number, segment: string, urgent: boolean): StreamRecord[] | undefined {
    // Frames beyond the window are never sent by a peer keeping to it: held, they could grow
    // without bound.
    if (seq > this.#inbox.received + WINDOW_FRAMES) {
      this.#link.fail(CLOSE_CODES.PROTOCOL_ERROR, 'a data frame beyond the window');
      return undefined;
    }
    // A frame we have already: the peer never saw our acknowledgement of it (API Gateway drops
    // throttled frames), so it is owed again, at once.
    const duplicate = this.#inbox.has(seq);
    let records: StreamRecord[];
    try {
      records = this.#inbox.accept(seq, segment);
    } catch (error) {
      if (!(error instanceof MalformedStream)) throw error;
      this.#link.fail(CLOSE_CODES.PROTOCOL_ERROR, error.message);
      return undefined;
    }
    this.#owed++;
    if (urgent || duplicate || records.some((record) => record.kind === 'c')) this.ackSoon();
    else if (!this.#retrying) {
      // ackDelayMs after the last data frame, not the first: while the peer keeps writing, it
      // asks for an acknowledgement when it needs one (the sender's probe timeout counts from
      // its last write, plus ackDelayMs).
      clearTimeout(this.#ackTimer);
      this.#ackTimer = setTimeout(() => this.#fire(), this.#options.ackDelayMs);
    }
    return records;
  }

  /** One of our frames was dropped: if it may have been an acknowledgement, write it again. */
  onDropped(lastWasAck: boolean): void {
    if (!lastWasAck || this.#ackTimer !== undefined) return;
    this.#owed++;
    this.#retrying = true;
    this.#ackTimer = setTimeout(() => this.#fire(), this.#retryMs);
    this.#retryMs = Math.min(2 * this.#retryMs, ACK_RETRY_MAX_MS);
  }

  /** The peer's frames arrive: its acknowledgements get through again. */
  heard(): void {
    this.#retryMs = ACK_RETRY_MS;
  }

  #fire(): void {
    this.#ackTimer = undefined;
    this.#retrying = false;
    this.ackSoon();
  }

  /** Acknowledges in a moment: a data frame written meanwhile carries it instead. */
  ackSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    queueMicrotask(() => {
      this.#soon = false;
      if (this.#owed === 0) return;
      // A data frame written now, or waiting for its slot in the pace, carries it.
      if (this.#link.pump() || this.#owed === 0) return;
      this.ackFrames++;
      this.#link.write(ackFrame(this.acks(ACK_RANGES)));
    });
  }
}

/** A binary record's body as the app's binaryType asks for it. */
export function binaryData(body: string, binaryType: 'blob' | 'arraybuffer'): Blob | ArrayBuffer {
  const bytes = fromBase64(body);
  return binaryType === 'blob' && globals.Blob ? new globals.Blob([bytes]) : bytes.buffer;
}

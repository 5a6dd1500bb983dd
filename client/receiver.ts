/**
 * The receive side of a relay stream (WIRE.md): data frames become the app's records in order,
 * exactly once, and are acknowledged, on a data frame going out anyway where one comes soon
 * enough, else on an acknowledgement frame of their own.
 */
import { globals } from './dom.js';
import { CLOSE_CODES, type ResolvedOptions } from './options.js';
import { WINDOW_BYTES, WINDOW_FRAMES } from './sender.js';
import { Inbox, MalformedStream, ackFrame, fromBase64, type StreamRecord } from './wire.js';

/** The receiver acknowledges at once after this many frames or bytes: half and a quarter window. */
const ACK_EVERY_FRAMES = WINDOW_FRAMES / 2;
const ACK_EVERY_BYTES = WINDOW_BYTES / 4;

/** What the receiver needs of the socket it acknowledges through. */
export interface ReceiveLink {
  /** Writes what the send side may write now (its data frames carry the acknowledgement). */
  pump(): void;
  write(frame: string): void;
  fail(code: number, reason: string): void;
}

export class Receiver {
  private readonly inbox = new Inbox();
  /** The acknowledgement we last sent, and how much of the stream it covered. */
  private ackSent = 0;
  private ackSentUnits = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly link: ReceiveLink,
    private readonly options: ResolvedOptions,
  ) {}

  /** The frames received in order: the acknowledgement every frame we write carries. */
  get received(): number {
    return this.inbox.received;
  }

  /** A frame carrying our acknowledgement went out. */
  acknowledged(): void {
    this.ackSent = this.inbox.received;
    this.ackSentUnits = this.inbox.receivedUnits;
    this.stop();
  }

  stop(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** The records a data frame completes, in order; undefined when it broke the stream (failed). */
  accept(seq: number, segment: string): StreamRecord[] | undefined {
    // A frame we have already: the peer never saw our acknowledgement of it (API Gateway drops
    // throttled frames), so it is owed again.
    if (seq <= this.inbox.received) this.ackSent = Math.min(this.ackSent, seq - 1);
    let records: StreamRecord[];
    try {
      records = this.inbox.accept(seq, segment);
    } catch (error) {
      if (error instanceof MalformedStream) {
        this.link.fail(CLOSE_CODES.PROTOCOL_ERROR, error.message);
        return undefined;
      }
      throw error;
    }
    this.owe();
    return records;
  }

  /**
   * Acknowledges on its own only when no data frame carries the acknowledgement soon enough:
   * at once when the stream has moved on by a part of the sender's window (counted in order, so
   * a gap that fills after reordering is acknowledged at once), otherwise after ackDelayMs.
   */
  private owe(): void {
    if (
      this.inbox.received - this.ackSent >= ACK_EVERY_FRAMES ||
      this.inbox.receivedUnits - this.ackSentUnits >= ACK_EVERY_BYTES
    )
      return this.sendAck();
    if (this.ackTimer === undefined)
      this.ackTimer = setTimeout(() => this.sendAck(), this.options.ackDelayMs);
  }

  private sendAck(): void {
    this.stop();
    this.link.pump();
    if (this.ackSent < this.inbox.received) this.link.write(ackFrame(this.inbox.received));
  }
}

/** A binary record's body as the app's binaryType asks for it. */
export function binaryData(body: string, binaryType: 'blob' | 'arraybuffer'): Blob | ArrayBuffer {
  const bytes = fromBase64(body);
  return binaryType === 'blob' && globals.Blob ? new globals.Blob([bytes]) : bytes.buffer;
}

/**
 * The relay half of SignalSocket (WIRE.md): the handshake (hellos, their confirmation, the two
 * sessions) and every frame read on a relay socket, handed to the stream's send and receive
 * sides. socket.ts extends it with the underlying socket's lifecycle (connect, resume,
 * keep-alive, close).
 */
import { messageEvent, randomSession } from './dom.js';
import { CLOSE_CODES, type ResolvedOptions } from './options.js';
import { binaryData, type Receiver } from './receiver.js';
import type { Sender } from './sender.js';
import { WebSocketSurface } from './surface.js';
import {
  ACK_RANGES,
  WINDOW_FRAMES,
  WIRE_VERSION,
  ackFrame,
  helloFrame,
  parseFrame,
  type Acks,
  type Frame,
} from './wire.js';

/**
 * The hello is resent until confirmed, twice as late each time: first 2 s after the socket opened
 * (an unpaired socket's hello is held by the server, and each copy takes a token of the stage's
 * throttle), or 250 ms after a sign that it may have been lost (an error frame, the peer's hello).
 */
export const HELLO_FIRST_MS = 2_000;
const HELLO_SOON_MS = 250;
const HELLO_MAX_MS = 30_000;
/** Frames that may wait on a socket for the peer's hello: a window's worth, and a few acks. */
const MAX_EARLY = WINDOW_FRAMES + 8;

type StreamFrame = Extract<Frame, { type: 'data' | 'ack' }>;

/** What a SignalSocket has written and read on its relay (WIRE.md); see `counters`. */
export interface TransportCounters {
  /** Frames written on underlying sockets, of every kind, and their UTF-8 bytes. */
  readonly framesSent: number;
  readonly bytesSent: number;
  /** Data frames written, and how many of those were copies written again. */
  readonly dataFramesSent: number;
  readonly framesResent: number;
  /** Acknowledgement-only frames written, and hellos. */
  readonly ackFramesSent: number;
  readonly hellosSent: number;
  /** Transport frames read from the peer, and API Gateway's error frames (a frame of ours dropped). */
  readonly framesReceived: number;
  readonly errorFrames: number;
  /** Data frames written and not yet acknowledged by the peer. */
  readonly unacknowledged: number;
  /** Underlying sockets opened: the first, and one per resume. */
  readonly connects: number;
}

export abstract class RelayEndpoint extends WebSocketSurface {
  protected abstract readonly options: ResolvedOptions;
  protected abstract readonly sender: Sender;
  protected abstract readonly receiver: Receiver;
  protected finished = false;
  protected lingering = false;
  protected readonly session = randomSession();
  protected peerSession: string | undefined;
  /** The peer's hello arrived on the current socket: data may flow. */
  protected ready = false;
  /** The peer sent more than a hello on the current socket: it has ours. */
  protected confirmed = false;
  protected early: StreamFrame[] = [];
  protected helloTimer: ReturnType<typeof setTimeout> | undefined;
  protected lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #helloDelay = HELLO_SOON_MS;
  /** Reconnects since the stream last made progress: the backoff's exponent. */
  protected attempts = 0;
  /** The kind of the frame written last, for an error frame that does not say which it drops. */
  protected lastKind = '';
  protected sent = { frames: 0, bytes: 0, hellos: 0, received: 0, errors: 0, connects: 0 };

  /** Writes a frame on the current socket, if it is open. */
  protected abstract write(frame: string): void;
  /** The transport ends the stream itself: `error`, then an unclean close. */
  protected abstract fail(code: number, reason: string): void;
  /** The stream is over for the app: one close event. */
  protected abstract finish(code: number, reason: string, wasClean: boolean): void;
  /** Closes the current underlying socket and forgets it. */
  protected abstract dropSocket(): void;
  /** The peer's hello came on a new socket: the relay is back. */
  protected abstract onResumed(): void;

  /** What this socket has written and read on its relay so far (zeros on other URLs). */
  get counters(): TransportCounters {
    const { sent, sender } = this;
    return {
      framesSent: sent.frames,
      bytesSent: sent.bytes,
      dataFramesSent: sender.dataFrames,
      framesResent: sender.resentFrames,
      ackFramesSent: this.receiver.ackFrames,
      hellosSent: sent.hellos,
      framesReceived: sent.received,
      errorFrames: sent.errors,
      unacknowledged: sender.unacknowledged,
      connects: sent.connects,
    };
  }

  protected writeHello(): void {
    this.sent.hellos++;
    this.write(helloFrame(this.session, this.peerSession ?? '', this.receiver.acks()));
  }

  /** Resends the hello, backing off, until the peer confirms it (as QUIC resends its Initial). */
  protected armHello(delay: number): void {
    clearTimeout(this.helloTimer);
    this.#helloDelay = delay;
    this.helloTimer = setTimeout(() => {
      this.helloTimer = undefined;
      if (this.confirmed || this.finished) return;
      this.writeHello();
      this.armHello(Math.min(2 * this.#helloDelay, HELLO_MAX_MS));
    }, delay);
  }

  protected onRelayFrame(text: string): void {
    const frame = parseFrame(text);
    if (!frame) return this.fail(CLOSE_CODES.PROTOCOL_ERROR, 'malformed transport frame');
    if (frame.type === 'platform') return this.#onPlatformFrame(text);
    this.sent.received++;
    this.receiver.heard();
    this.sender.onHeard();
    if (frame.type === 'hello')
      return frame.version === WIRE_VERSION
        ? this.#onHello(frame.session, frame.peer, frame.acks)
        : this.fail(CLOSE_CODES.MISMATCH, 'the peer speaks another SignalSocket wire version');
    if (!this.confirmed) {
      this.confirmed = true;
      clearTimeout(this.helloTimer);
      this.sender.schedulePump();
    }
    if (!this.ready) {
      // Dropped beyond the bound: the peer resends what we do not acknowledge.
      if (this.early.length < MAX_EARLY) this.early.push(frame);
      return;
    }
    this.#onStreamFrame(frame);
  }

  #onStreamFrame(frame: StreamFrame): void {
    this.sender.onAcks(frame.acks);
    if (frame.type === 'data') this.#onData(frame.seq, frame.segment, frame.urgent);
  }

  #onHello(session: string, peer: string, acks: Acks): void {
    // The hello's acknowledgement is of our stream only if the peer knew it: a peer that still
    // talks to the page we replaced (a reload) acknowledges another stream.
    const ours = peer === this.session;
    if (this.ready) {
      // The peer sent its hello again: it has not seen our confirmation.
      if (ours) this.sender.onAcks(acks);
      return this.write(ackFrame(this.receiver.acks(ACK_RANGES)));
    }
    // A new stream where data already flowed with the old one cannot continue it. (A peer that
    // has exchanged nothing yet may be replaced: it was a transport that gave up, not a stream.)
    if (this.peerSession !== session && (this.receiver.received > 0 || this.sender.acked > 0))
      return this.fail(CLOSE_CODES.NEW_STREAM, 'the peer started a new stream');
    this.peerSession = session;
    this.ready = true;
    // Confirms the hello: the peer sends data only once it knows that its hello, held by the
    // server until we arrived, was delivered. Its socket is then flushed (the server's held-frames
    // path is over) and its data takes the direct path.
    this.write(ackFrame(this.receiver.acks(ACK_RANGES)));
    this.onResumed();
    if (ours) this.sender.onAcks(acks);
    // The peer is here: if it has not confirmed our hello, ours may have been dropped.
    if (!this.confirmed && this.#helloDelay > HELLO_SOON_MS) this.armHello(HELLO_SOON_MS);
    const early = this.early;
    this.early = [];
    for (const frame of early) {
      if (this.finished && !this.lingering) return;
      this.#onStreamFrame(frame);
    }
    this.sender.schedulePump();
  }

  #onData(seq: number, segment: string, urgent: boolean): void {
    const before = this.receiver.received;
    const records = this.receiver.accept(seq, segment, urgent);
    if (!records) return;
    if (this.receiver.received > before) this.attempts = 0;
    for (const record of records) {
      if (record.kind === 'c') return this.#onPeerClose(record.body);
      if (this.finished) continue;
      const data = record.kind === 't' ? record.body : binaryData(record.body, this.binaryKind);
      this.dispatchEvent(messageEvent(data));
    }
  }

  /** The peer's app closed: everything it sent before has been delivered. */
  #onPeerClose(body: string): void {
    const space = body.indexOf(' ');
    const code = Number(body.slice(0, space));
    const reason = body.slice(space + 1);
    if (this.finished) return;
    // Until the peer, having our acknowledgement, closes its socket (the server then closes ours):
    // meanwhile a copy of its close, or an error frame for our acknowledgement, is acknowledged
    // again. The peer gives up after resumeWithinMs; so do we.
    this.lingering = true;
    this.lingerTimer = setTimeout(() => this.dropSocket(), this.options.resumeWithinMs);
    this.finish(Number.isInteger(code) ? code : 1005, reason, true);
  }

  #onPlatformFrame(text: string): void {
    let parsed: { message?: unknown; type?: unknown; error?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Not JSON: still never the peer's (transport frames never begin with "{").
    }
    if (parsed.type === 'Error') {
      const reason = typeof parsed.error === 'string' ? parsed.error : 'refused by the server';
      return this.fail(CLOSE_CODES.MISMATCH, reason.slice(0, 120));
    }
    // API Gateway dropped one of our frames (which one, it does not say): pace the data, write the
    // acknowledgement again if it may have been one, and resend an unconfirmed hello soon.
    this.sent.errors++;
    this.sender.throttled(this.lastKind === 'D' || this.lastKind === 'd');
    this.receiver.onDropped(this.lastKind === 'A');
    if (!this.confirmed && this.#helloDelay > HELLO_SOON_MS) this.armHello(HELLO_SOON_MS);
  }
}

/**
 * SignalSocket itself: the underlying socket's lifecycle (connect, resume across cuts,
 * keep-alive, close) and, on relay URLs, the handshake and the frames of WIRE.md, with the send
 * and receive sides of the stream in sender.ts and receiver.ts.
 */
import { closeEvent, domError, messageEvent, randomSession } from './dom.js';
import {
  CLOSE_CODES,
  isMarked,
  resolve,
  socketUrls,
  type ResolvedOptions,
  type UnderlyingSocket,
} from './options.js';
import { Receiver, binaryData } from './receiver.js';
import { Sender, type Payload } from './sender.js';
import { CLOSED, CLOSING, CONNECTING, OPEN, WebSocketSurface } from './surface.js';
import {
  ACK_RANGES,
  WINDOW_FRAMES,
  WIRE_VERSION,
  ackFrame,
  dataFrame,
  helloFrame,
  parseFrame,
  utf8Bytes,
  type Acks,
  type Frame,
} from './wire.js';

const MAX_RECONNECT_DELAY_MS = 2_000;
/** The hello is resent until confirmed: first after this long, then twice as long each time. */
const HELLO_FIRST_MS = 250;
const HELLO_MAX_MS = 30_000;
/** Frames that may wait on a socket for the peer's hello: a window's worth, and a few acks. */
const MAX_EARLY = WINDOW_FRAMES + 8;
const KEEP_ALIVE_INTRODUCTION = '{"type":"KeepAlive"}';

type TimerName =
  | 'keepAliveTimer'
  | 'closeTimer'
  | 'resumeTimer'
  | 'reconnectTimer'
  | 'helloTimer'
  | 'lingerTimer';

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

export class SignalSocket extends WebSocketSurface {
  static readonly [isMarked] = true;
  /** The defaults of this class; signalSocket() makes subclasses with others. */
  protected static options: ResolvedOptions = resolve({});

  readonly url: string;

  private readonly options: ResolvedOptions;
  private readonly relay: boolean;
  private readonly wireUrl: string;
  private readonly protocols: string | string[] | undefined;
  private socket: UnderlyingSocket | undefined;
  private everOpened = false;
  private finished = false;
  private lingering = false;
  /** Bytes the app sent after close(): never sent, but counted, as WHATWG says. */
  private discarded = 0;
  private keepAliveTimer: ReturnType<typeof setTimeout> | undefined;

  // The relay transport (WIRE.md).
  private readonly session = randomSession();
  private peerSession: string | undefined;
  /** The peer's hello arrived on the current socket: data may flow. */
  private ready = false;
  /** The peer sent more than a hello on the current socket: it has ours. */
  private helloConfirmed = false;
  private helloDelay = HELLO_FIRST_MS;
  private early: StreamFrame[] = [];
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reconnects since the stream last made progress: the backoff's exponent. */
  private attempts = 0;
  /** The kind of the frame written last, for an error frame that does not say which it drops. */
  private lastWasAck = false;
  private lastWasData = false;
  private sent = { frames: 0, bytes: 0, hellos: 0, received: 0, errors: 0, connects: 0 };

  constructor(url: string | URL, protocols?: string | string[]) {
    super();
    this.options = new.target.options;
    if (!this.options.WebSocket)
      throw new TypeError(
        'SignalSocket: no WebSocket implementation here; pass one with signalSocket({ WebSocket })',
      );
    ({ url: this.url, relay: this.relay, wireUrl: this.wireUrl } = socketUrls(url));
    this.protocols = protocols;
    const fail = (code: number, reason: string) => this.fail(code, reason);
    this.sender = new Sender(
      {
        canSend: () =>
          this.ready &&
          this.helloConfirmed &&
          !this.finished &&
          this.socket !== undefined &&
          this.socket.readyState === OPEN,
        writeData: (seq, segment, urgent) =>
          this.write(dataFrame(seq, this.receiver.acks(), segment, urgent)),
        fail,
        closeAcknowledged: () => this.endLocalClose(true),
        progress: () => (this.attempts = 0),
      },
      this.options,
    );
    this.receiver = new Receiver(
      {
        pump: () => this.sender.pump(),
        // Before the peer's hello on this socket an acknowledgement could reach another stream.
        write: (frame) => this.ready && this.write(frame, true),
        fail,
      },
      this.options,
    );
    this.connect();
  }

  protected override onBinaryType(value: 'blob' | 'arraybuffer'): void {
    if (!this.relay && this.socket) this.socket.binaryType = value;
  }

  get bufferedAmount(): number {
    return (this.relay ? this.sender.buffered : (this.socket?.bufferedAmount ?? 0)) + this.discarded;
  }

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

  send(data: Payload): void {
    if (this.readyStateValue === CONNECTING)
      throw domError('SignalSocket: send() before the socket opened', 'InvalidStateError');
    if (this.readyStateValue !== OPEN) {
      this.discarded += payloadBytes(data);
      return;
    }
    if (!this.relay) {
      this.socket?.send(data);
      this.armKeepAlive();
      return;
    }
    this.sender.send(data);
  }

  close(code?: number, reason = ''): void {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999))
      throw domError(
        `SignalSocket: close code ${code} is not 1000 or 3000–4999`,
        'InvalidAccessError',
      );
    if (utf8Bytes(reason) > 123)
      throw domError('SignalSocket: the close reason is over 123 bytes', 'SyntaxError');
    if (this.readyStateValue === CLOSING || this.readyStateValue === CLOSED) return;
    const neverOpened = this.readyStateValue === CONNECTING;
    this.readyStateValue = CLOSING;
    if (!this.relay || neverOpened) {
      // As a WebSocket: a close before open fails the connection (the underlying close reports it).
      this.socket?.close(code, reason);
      if (!this.socket) this.finish(1006, '', false);
      return;
    }
    this.sender.close(code ?? 1005, reason);
    // Everything before the close must reach the peer, across cuts, but not forever.
    this.closeTimer = setTimeout(() => this.endLocalClose(false), this.options.resumeWithinMs);
  }

  // ---- the underlying socket ---------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = undefined;
    let socket: UnderlyingSocket;
    try {
      socket = new this.options.WebSocket!(this.wireUrl, this.protocols);
    } catch (error) {
      if (!this.everOpened) throw error;
      this.resume();
      return;
    }
    this.socket = socket;
    this.ready = false;
    this.helloConfirmed = false;
    this.sender.onNewSocket();
    this.early = [];
    if (!this.relay) socket.binaryType = this.binaryTypeValue;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.onUnderlyingOpen(socket);
    };
    socket.onmessage = ({ data }) => {
      if (socket !== this.socket) return;
      if (this.finished) {
        if (this.lingering && typeof data === 'string') this.onRelayFrame(data);
        return;
      }
      if (!this.relay) {
        this.armKeepAlive();
        this.dispatchEvent(messageEvent(data));
      } else if (typeof data === 'string') this.onRelayFrame(data);
    };
    socket.onerror = () => {
      if (socket !== this.socket || this.everOpened || this.finished) return;
      this.dispatchEvent(new Event('error'));
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      this.ready = false;
      this.clearTimer('lingerTimer');
      this.onUnderlyingClose(event);
    };
  }

  private onUnderlyingOpen(socket: UnderlyingSocket): void {
    if (this.finished) {
      socket.close(1000);
      return;
    }
    this.sent.connects++;
    if (!this.everOpened) {
      this.everOpened = true;
      this.protocol = socket.protocol;
      this.extensions = socket.extensions;
      if (this.readyStateValue === CONNECTING) this.readyStateValue = OPEN;
      this.dispatchEvent(new Event('open'));
    }
    if (this.relay && !this.finished) {
      this.writeHello();
      this.armHello(HELLO_FIRST_MS);
    }
    this.armKeepAlive();
  }

  private onUnderlyingClose(event: { code: number; reason: string; wasClean: boolean }): void {
    if (this.finished) return;
    if (!this.relay || !this.everOpened) {
      this.finish(event.code, event.reason, this.everOpened && event.wasClean);
      return;
    }
    // Closed before any peer came, and now cut (another socket for this relay replaced it, say):
    // nobody to tell, so no redial, which would take the relay back from that socket.
    if (this.readyStateValue === CLOSING && this.peerSession === undefined) {
      const { code, reason } = this.sender.closeRequest!;
      return this.finish(code, reason, false);
    }
    // Not a deliberate close of the stream: a cut. Reconnect to the same relay and go on.
    this.resume();
  }

  private resume(): void {
    if (this.finished) return;
    this.clearTimer('keepAliveTimer');
    this.clearTimer('helloTimer');
    this.sender.stop();
    if (!this.resumeTimer)
      this.resumeTimer = setTimeout(() => {
        this.dropSocket();
        this.fail(
          CLOSE_CODES.RESUME_TIMEOUT,
          `the relay did not resume within ${this.options.resumeWithinMs} ms`,
        );
      }, this.options.resumeWithinMs);
    // Backs off until the stream moves again: a socket that pairs and is then cut at once (a
    // frame the gateway refuses, say) must not be redialled at full speed.
    const delay =
      this.attempts === 0
        ? 0
        : Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private write(frame: string, ack = false): void {
    if (!this.socket || this.socket.readyState !== OPEN) return;
    this.socket.send(frame);
    this.lastWasData = frame[0] === 'D' || frame[0] === 'd';
    this.sent.frames++;
    this.sent.bytes += utf8Bytes(frame);
    this.sender.onWrite();
    this.lastWasAck = ack;
    this.receiver.acknowledged();
    this.armKeepAlive();
  }

  private writeHello(): void {
    this.sent.hellos++;
    this.write(helloFrame(this.session, this.peerSession ?? '', this.receiver.acks()));
  }

  /** Resends the hello, backing off, until the peer confirms it (as QUIC resends its Initial). */
  private armHello(delay: number): void {
    this.clearTimer('helloTimer');
    this.helloDelay = delay;
    this.helloTimer = setTimeout(() => {
      this.helloTimer = undefined;
      if (this.helloConfirmed || this.finished) return;
      this.writeHello();
      this.armHello(Math.min(2 * this.helloDelay, HELLO_MAX_MS));
    }, delay);
  }

  private armKeepAlive(): void {
    this.clearTimer('keepAliveTimer');
    if (this.finished) return;
    this.keepAliveTimer = setTimeout(() => {
      if (!this.socket || this.socket.readyState !== OPEN) return;
      if (!this.relay) {
        this.socket.send(KEEP_ALIVE_INTRODUCTION);
        this.armKeepAlive();
      } else if (this.ready && this.helloConfirmed)
        this.write(ackFrame(this.receiver.acks(ACK_RANGES)), true);
      else this.writeHello();
    }, this.options.keepAliveMs);
  }

  private clearTimer(name: TimerName): void {
    clearTimeout(this[name]);
    this[name] = undefined;
  }

  /** The stream is over for the app: one close event, every timer stopped but the linger. */
  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.readyStateValue = CLOSED;
    for (const name of [
      'keepAliveTimer',
      'closeTimer',
      'resumeTimer',
      'reconnectTimer',
      'helloTimer',
    ] as const)
      this.clearTimer(name);
    this.sender.stop();
    this.receiver.stop();
    this.dispatchEvent(closeEvent(code, reason, wasClean));
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.lingering = false;
    this.clearTimer('lingerTimer');
    socket?.close(1000);
  }

  /** The peer acknowledged our close (or it never will): end the stream and the socket. */
  private endLocalClose(clean: boolean): void {
    const { code, reason } = this.sender.closeRequest ?? { code: 1005, reason: '' };
    this.dropSocket();
    this.finish(code, reason, clean);
  }

  /** The transport ends the stream itself: `error`, then an unclean close. */
  private fail(code: number, reason: string): void {
    if (this.finished) return;
    this.dropSocket();
    this.dispatchEvent(new Event('error'));
    this.finish(code, reason, false);
  }

  // ---- receiving -----------------------------------------------------------------------------

  private onRelayFrame(text: string): void {
    const frame = parseFrame(text);
    if (!frame) return this.fail(CLOSE_CODES.PROTOCOL_ERROR, 'malformed transport frame');
    if (frame.type === 'platform') return this.onPlatformFrame(text);
    this.sent.received++;
    this.receiver.heard();
    if (frame.type === 'hello')
      return frame.version === WIRE_VERSION
        ? this.onHello(frame.session, frame.peer, frame.acks)
        : this.fail(CLOSE_CODES.MISMATCH, 'the peer speaks another SignalSocket wire version');
    if (!this.helloConfirmed) {
      this.helloConfirmed = true;
      this.clearTimer('helloTimer');
      this.sender.schedulePump();
    }
    if (!this.ready) {
      // Dropped beyond the bound: the peer resends what we do not acknowledge.
      if (this.early.length < MAX_EARLY) this.early.push(frame);
      return;
    }
    this.onStreamFrame(frame);
  }

  private onStreamFrame(frame: StreamFrame): void {
    this.sender.onAcks(frame.acks);
    if (frame.type === 'data') this.onData(frame.seq, frame.segment, frame.urgent);
  }

  private onHello(session: string, peer: string, acks: Acks): void {
    // The hello's acknowledgement is of our stream only if the peer knew it: a peer that still
    // talks to the page we replaced (a reload) acknowledges another stream.
    const ours = peer === this.session;
    if (this.ready) {
      // The peer sent its hello again: it has not seen our confirmation.
      if (ours) this.sender.onAcks(acks);
      return this.write(ackFrame(this.receiver.acks(ACK_RANGES)), true);
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
    this.write(ackFrame(this.receiver.acks(ACK_RANGES)), true);
    this.clearTimer('resumeTimer');
    if (ours) this.sender.onAcks(acks);
    // The peer is here: if it has not confirmed our hello, ours may have been dropped.
    if (!this.helloConfirmed && this.helloDelay > HELLO_FIRST_MS) this.armHello(HELLO_FIRST_MS);
    const early = this.early;
    this.early = [];
    for (const frame of early) {
      if (this.finished && !this.lingering) return;
      this.onStreamFrame(frame);
    }
    this.sender.schedulePump();
  }

  private onData(seq: number, segment: string, urgent: boolean): void {
    const before = this.receiver.received;
    const records = this.receiver.accept(seq, segment, urgent);
    if (!records) return;
    if (this.receiver.received > before) this.attempts = 0;
    for (const record of records) {
      if (record.kind === 'c') return this.onPeerClose(record.body);
      if (this.finished) continue;
      const data =
        record.kind === 't' ? record.body : binaryData(record.body, this.binaryTypeValue);
      this.dispatchEvent(messageEvent(data));
    }
  }

  /** The peer's app closed: everything it sent before has been delivered. */
  private onPeerClose(body: string): void {
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

  private onPlatformFrame(text: string): void {
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
    this.sender.throttled(this.lastWasData);
    this.receiver.onDropped(this.lastWasAck);
    if (!this.helloConfirmed && this.helloDelay > HELLO_FIRST_MS) this.armHello(HELLO_FIRST_MS);
  }
}

/** The bytes a message counts for in bufferedAmount. */
function payloadBytes(data: Payload): number {
  if (typeof data === 'string') return utf8Bytes(data);
  return 'size' in data ? data.size : data.byteLength;
}

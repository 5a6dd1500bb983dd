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
  subprotocols,
  type Protocols,
  type ResolvedOptions,
  type UnderlyingSocket,
} from './options.js';
import { Receiver, binaryData } from './receiver.js';
import { Sender, type Payload } from './sender.js';
import { CLOSED, CLOSING, CONNECTING, OPEN, WebSocketSurface } from './surface.js';
import { ackFrame, dataFrame, helloFrame, parseFrame, utf8Bytes, type Frame } from './wire.js';

const MAX_RECONNECT_DELAY_MS = 2_000;
const LINGER_MS = 5_000;
const KEEP_ALIVE_INTRODUCTION = '{"type":"KeepAlive"}';

type TimerName = 'keepAliveTimer' | 'closeTimer' | 'resumeTimer' | 'reconnectTimer';

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
  private keepAliveTimer: ReturnType<typeof setTimeout> | undefined;

  // The relay transport (WIRE.md).
  private readonly session = randomSession();
  private peerSession: string | undefined;
  /** The peer's hello arrived on the current socket: data may flow. */
  private ready = false;
  /** The peer sent more than a hello on the current socket: it has ours. */
  private helloConfirmed = false;
  private early: Frame[] = [];
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;

  constructor(url: string | URL, protocols?: Protocols) {
    super();
    this.options = new.target.options;
    if (!this.options.WebSocket)
      throw new TypeError(
        'SignalSocket: no WebSocket implementation here; pass one with signalSocket({ WebSocket })',
      );
    ({ url: this.url, relay: this.relay, wireUrl: this.wireUrl } = socketUrls(url));
    this.protocols = subprotocols(protocols);
    const fail = (code: number, reason: string) => this.fail(code, reason);
    this.sender = new Sender(
      {
        canSend: () =>
          this.ready &&
          this.helloConfirmed &&
          !this.finished &&
          this.socket !== undefined &&
          this.socket.readyState === OPEN,
        writeData: (seq, segment) => this.write(dataFrame(seq, this.receiver.received, segment)),
        fail,
        closeAcknowledged: () => this.endLocalClose(true),
      },
      this.options,
    );
    this.receiver = new Receiver(
      { pump: () => this.sender.pump(), write: (frame) => this.write(frame), fail },
      this.options,
    );
    this.connect();
  }

  protected override onBinaryType(value: 'blob' | 'arraybuffer'): void {
    if (!this.relay && this.socket) this.socket.binaryType = value;
  }

  get bufferedAmount(): number {
    if (!this.relay) return this.socket?.bufferedAmount ?? 0;
    return this.sender.buffered;
  }

  send(data: Payload): void {
    if (this.readyStateValue === CONNECTING)
      throw domError('SignalSocket: send() before the socket opened', 'InvalidStateError');
    if (this.readyStateValue !== OPEN) return;
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
      this.onUnderlyingClose(event);
    };
  }

  private onUnderlyingOpen(socket: UnderlyingSocket): void {
    if (this.finished) {
      socket.close(1000);
      return;
    }
    if (!this.everOpened) {
      this.everOpened = true;
      this.protocol = socket.protocol;
      this.extensions = socket.extensions;
      if (this.readyStateValue === CONNECTING) this.readyStateValue = OPEN;
      this.dispatchEvent(new Event('open'));
    }
    if (this.relay && !this.finished) this.write(helloFrame(this.session, this.receiver.received));
    this.armKeepAlive();
  }

  private onUnderlyingClose(event: { code: number; reason: string; wasClean: boolean }): void {
    if (this.finished) return;
    if (!this.relay || !this.everOpened) {
      this.finish(event.code, event.reason, this.everOpened && event.wasClean);
      return;
    }
    // Not a deliberate close of the stream: a cut. Reconnect to the same relay and go on.
    this.resume();
  }

  private resume(): void {
    if (this.finished) return;
    this.clearTimer('keepAliveTimer');
    this.sender.stopRetransmit();
    if (!this.resumeTimer)
      this.resumeTimer = setTimeout(() => {
        this.socket?.close(1000);
        this.finish(
          CLOSE_CODES.RESUME_TIMEOUT,
          `the relay did not resume within ${this.options.resumeWithinMs} ms`,
          false,
        );
      }, this.options.resumeWithinMs);
    const delay =
      this.attempts === 0
        ? 0
        : Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private write(frame: string): void {
    if (!this.socket || this.socket.readyState !== OPEN) return;
    this.socket.send(frame);
    this.receiver.acknowledged();
    this.armKeepAlive();
  }

  private armKeepAlive(): void {
    this.clearTimer('keepAliveTimer');
    if (this.finished) return;
    // Until the peer confirms our hello, it is resent every retransmitMs: a hello or confirmation
    // that API Gateway dropped (throttling) would otherwise leave both sides waiting.
    const handshaking = this.relay && this.ready && !this.helloConfirmed;
    this.keepAliveTimer = setTimeout(
      () => {
        if (!this.socket || this.socket.readyState !== OPEN) return;
        if (this.relay)
          this.write(
            this.helloConfirmed
              ? ackFrame(this.receiver.received)
              : helloFrame(this.session, this.receiver.received),
          );
        else {
          this.socket.send(KEEP_ALIVE_INTRODUCTION);
          this.armKeepAlive();
        }
      },
      handshaking
        ? Math.min(this.options.retransmitMs, this.options.keepAliveMs)
        : this.options.keepAliveMs,
    );
  }

  private clearTimer(name: TimerName): void {
    const timer = this[name];
    if (timer !== undefined) clearTimeout(timer);
    this[name] = undefined;
  }

  /** The stream is over for the app: one close event, every timer stopped. */
  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.readyStateValue = CLOSED;
    for (const name of ['keepAliveTimer', 'closeTimer', 'resumeTimer', 'reconnectTimer'] as const)
      this.clearTimer(name);
    this.sender.stop();
    this.receiver.stop();
    this.dispatchEvent(closeEvent(code, reason, wasClean));
  }

  /** The peer acknowledged our close (or it never will): end the stream and the socket. */
  private endLocalClose(clean: boolean): void {
    const { code, reason } = this.sender.closeRequest ?? { code: 1005, reason: '' };
    const socket = this.socket;
    this.lingering = false;
    this.socket = undefined;
    socket?.close(1000);
    this.finish(code, reason, clean);
  }

  // ---- receiving -----------------------------------------------------------------------------

  private onRelayFrame(text: string): void {
    const frame = parseFrame(text);
    if (!frame) return this.fail(CLOSE_CODES.PROTOCOL_ERROR, 'malformed transport frame');
    if (frame.type === 'platform') return this.onPlatformFrame(text);
    if (frame.type === 'hello') {
      this.onHello(frame.session, frame.ack);
      return;
    }
    if (!this.helloConfirmed) {
      this.helloConfirmed = true;
      this.sender.schedulePump();
    }
    if (!this.ready) {
      this.early.push(frame);
      return;
    }
    this.sender.onAck(frame.ack);
    if (frame.type === 'data') this.onData(frame.seq, frame.segment);
  }

  private onHello(session: string, ack: number): void {
    if (this.ready) {
      // The peer sent its hello again: it has not seen our confirmation.
      this.sender.onAck(ack);
      return this.write(ackFrame(this.receiver.received));
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
    this.write(ackFrame(this.receiver.received));
    this.attempts = 0;
    this.clearTimer('resumeTimer');
    // Whatever was in flight on an earlier socket is resent, from the first frame not acked.
    this.sender.resendAll();
    this.sender.onAck(ack);
    const early = this.early;
    this.early = [];
    for (const frame of early) {
      if (this.finished && !this.lingering) return;
      if (frame.type === 'ack' || frame.type === 'data') this.sender.onAck(frame.ack);
      if (frame.type === 'data') this.onData(frame.seq, frame.segment);
    }
    this.sender.schedulePump();
  }

  private onData(seq: number, segment: string): void {
    const records = this.receiver.accept(seq, segment);
    if (!records) return;
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
    this.write(ackFrame(this.receiver.received));
    if (this.finished) return;
    // Until the peer, having our acknowledgement, closes its socket (the server then closes ours).
    this.lingering = true;
    const socket = this.socket;
    setTimeout(() => {
      if (this.socket === socket) socket?.close(1000);
    }, LINGER_MS);
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
    // API Gateway dropped one of our frames: slow down, then resend what is not acknowledged.
    if (!this.sender.throttle()) return;
    // The dropped frame may have been our hello: then the peer waits for it.
    if (!this.helloConfirmed) this.write(helloFrame(this.session, this.receiver.received));
    this.sender.pumpAfterPause();
  }

  private fail(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.lingering = false;
    socket?.close(1000);
    this.finish(code, reason, false);
  }
}

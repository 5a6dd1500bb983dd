/**
 * SignalSocket itself: the underlying socket's lifecycle (connect, resume across cuts,
 * keep-alive, close) and, on relay URLs, the handshake and the frames of WIRE.md, with the send
 * and receive sides of the stream in sender.ts and receiver.ts.
 */
import { closeEvent, domError, messageEvent } from './dom.js';
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
import { Receiver } from './receiver.js';
import { HELLO_FIRST_MS, RelayEndpoint } from './relay.js';
import { Sender, type Payload } from './sender.js';
import { CLOSED, CLOSING, CONNECTING, OPEN } from './surface.js';
import { ACK_RANGES, ackFrame, dataFrame, KEEP_ALIVE_INTRODUCTION, utf8Bytes } from './wire.js';

const MAX_RECONNECT_DELAY_MS = 2_000;

export class SignalSocket extends RelayEndpoint {
  static readonly [isMarked] = true;
  /** The defaults of this class; signalSocket() makes subclasses with others. */
  protected static options: ResolvedOptions = resolve({});

  readonly url: string;

  protected readonly options: ResolvedOptions;
  readonly #relay: boolean;
  readonly #wireUrl: string;
  readonly #protocols: string | string[] | undefined;
  #socket: UnderlyingSocket | undefined;
  #everOpened = false;
  /** Bytes the app sent after close(): never sent, but counted, as WHATWG says. */
  #discarded = 0;
  #keepAliveTimer: ReturnType<typeof setTimeout> | undefined;

  protected readonly sender: Sender;
  protected readonly receiver: Receiver;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string | URL, protocols?: Protocols) {
    super();
    this.options = new.target.options;
    if (!this.options.WebSocket)
      throw new TypeError(
        'SignalSocket: no WebSocket implementation here; pass one with signalSocket({ WebSocket })',
      );
    ({ url: this.url, relay: this.#relay, wireUrl: this.#wireUrl } = socketUrls(url));
    this.#protocols = subprotocols(protocols);
    const fail = (code: number, reason: string) => this.fail(code, reason);
    this.sender = new Sender(
      {
        canSend: () =>
          this.ready &&
          this.confirmed &&
          !this.finished &&
          this.#socket !== undefined &&
          this.#socket.readyState === OPEN,
        writeData: (seq, segment, urgent) =>
          this.write(dataFrame(seq, this.receiver.acks(), segment, urgent)),
        fail,
        closeAcknowledged: () => this.#endLocalClose(true),
        progress: () => (this.attempts = 0),
      },
      this.options,
    );
    this.receiver = new Receiver(
      {
        pump: () => this.sender.pump(),
        // Before the peer's hello on this socket an acknowledgement could reach another stream.
        write: (frame) => this.ready && this.write(frame),
        fail,
      },
      this.options,
    );
    this.#connect();
  }

  protected override onBinaryType(value: 'blob' | 'arraybuffer'): void {
    if (!this.#relay && this.#socket) this.#socket.binaryType = value;
  }

  get bufferedAmount(): number {
    return (
      (this.#relay ? this.sender.buffered : (this.#socket?.bufferedAmount ?? 0)) + this.#discarded
    );
  }

  send(data: Payload): void {
    if (this.state === CONNECTING)
      throw domError('SignalSocket: send() before the socket opened', 'InvalidStateError');
    if (this.state !== OPEN) {
      this.#discarded += payloadBytes(data);
      return;
    }
    if (!this.#relay) {
      this.#socket?.send(data);
      this.#armKeepAlive();
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
    if (this.state === CLOSING || this.state === CLOSED) return;
    const neverOpened = this.state === CONNECTING;
    this.state = CLOSING;
    if (!this.#relay || neverOpened) {
      // As a WebSocket: a close before open fails the connection (the underlying close reports it).
      this.#socket?.close(code, reason);
      if (!this.#socket) this.finish(1006, '', false);
      return;
    }
    this.sender.close(code ?? 1005, reason);
    // Everything before the close must reach the peer, across cuts, but not forever.
    this.#closeTimer = setTimeout(() => this.#endLocalClose(false), this.options.resumeWithinMs);
  }

  // ---- the underlying socket ---------------------------------------------------------------

  #connect(): void {
    this.#reconnectTimer = undefined;
    let socket: UnderlyingSocket;
    try {
      socket = new this.options.WebSocket!(this.#wireUrl, this.#protocols);
    } catch (error) {
      if (!this.#everOpened) throw error;
      this.#resume();
      return;
    }
    this.#socket = socket;
    this.ready = false;
    this.confirmed = false;
    this.sender.onNewSocket();
    this.early = [];
    if (!this.#relay) socket.binaryType = this.binaryKind;
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      this.#onUnderlyingOpen(socket);
    };
    socket.onmessage = ({ data }) => {
      if (socket !== this.#socket) return;
      if (this.finished) {
        if (this.lingering && typeof data === 'string') this.onRelayFrame(data);
        return;
      }
      if (!this.#relay) {
        this.#armKeepAlive();
        this.dispatchEvent(messageEvent(data));
      } else if (typeof data === 'string') this.onRelayFrame(data);
    };
    socket.onerror = () => {
      if (socket !== this.#socket || this.#everOpened || this.finished) return;
      this.dispatchEvent(new Event('error'));
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return;
      this.#socket = undefined;
      this.ready = false;
      clearTimeout(this.lingerTimer);
      this.#onUnderlyingClose(event);
    };
  }

  #onUnderlyingOpen(socket: UnderlyingSocket): void {
    if (this.finished) {
      socket.close(1000);
      return;
    }
    this.sent.connects++;
    if (!this.#everOpened) {
      this.#everOpened = true;
      this.protocol = socket.protocol;
      this.extensions = socket.extensions;
      if (this.state === CONNECTING) this.state = OPEN;
      this.dispatchEvent(new Event('open'));
    }
    if (this.#relay && !this.finished) {
      this.writeHello();
      this.armHello(HELLO_FIRST_MS);
    }
    this.#armKeepAlive();
  }

  #onUnderlyingClose(event: { code: number; reason: string; wasClean: boolean }): void {
    if (this.finished) return;
    if (!this.#relay || !this.#everOpened) {
      this.finish(event.code, event.reason, this.#everOpened && event.wasClean);
      return;
    }
    // Closed before any peer came, and now cut (another socket for this relay replaced it, say):
    // nobody to tell, so no redial, which would take the relay back from that socket.
    if (this.state === CLOSING && this.peerSession === undefined) {
      const { code, reason } = this.sender.closeRequest!;
      return this.finish(code, reason, false);
    }
    // Not a deliberate close of the stream: a cut. Reconnect to the same relay and go on.
    this.#resume();
  }

  #resume(): void {
    if (this.finished) return;
    clearTimeout(this.#keepAliveTimer);
    clearTimeout(this.helloTimer);
    this.sender.stop();
    if (!this.#resumeTimer)
      this.#resumeTimer = setTimeout(() => {
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
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  protected write(frame: string): void {
    if (!this.#socket || this.#socket.readyState !== OPEN) return;
    this.#socket.send(frame);
    this.lastKind = frame[0]!;
    this.sent.frames++;
    this.sent.bytes += utf8Bytes(frame);
    this.sender.onWrite();
    this.receiver.acknowledged();
    this.#armKeepAlive();
  }

  #armKeepAlive(): void {
    clearTimeout(this.#keepAliveTimer);
    if (this.finished) return;
    this.#keepAliveTimer = setTimeout(() => {
      if (!this.#socket || this.#socket.readyState !== OPEN) return;
      if (!this.#relay) {
        this.#socket.send(KEEP_ALIVE_INTRODUCTION);
        this.#armKeepAlive();
      } else if (this.ready && this.confirmed) this.write(ackFrame(this.receiver.acks(ACK_RANGES)));
      else this.writeHello();
    }, this.options.keepAliveMs);
  }

  /** The stream is over for the app: one close event, every timer stopped but the linger. */
  protected finish(code: number, reason: string, wasClean: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.state = CLOSED;
    for (const timer of [
      this.#keepAliveTimer,
      this.#closeTimer,
      this.#resumeTimer,
      this.#reconnectTimer,
      this.helloTimer,
    ])
      clearTimeout(timer);
    this.sender.stop();
    this.receiver.stop();
    this.dispatchEvent(closeEvent(code, reason, wasClean));
  }

  protected dropSocket(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.lingering = false;
    clearTimeout(this.lingerTimer);
    socket?.close(1000);
  }

  protected onResumed(): void {
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
  }

  /** The peer acknowledged our close (or it never will): end the stream and the socket. */
  #endLocalClose(clean: boolean): void {
    const { code, reason } = this.sender.closeRequest ?? { code: 1005, reason: '' };
    this.dropSocket();
    this.finish(code, reason, clean);
  }

  /** The transport ends the stream itself: `error`, then an unclean close. */
  protected fail(code: number, reason: string): void {
    if (this.finished) return;
    this.dropSocket();
    this.dispatchEvent(new Event('error'));
    this.finish(code, reason, false);
  }
}

/** The bytes a message counts for in bufferedAmount. */
function payloadBytes(data: Payload): number {
  if (typeof data === 'string') return utf8Bytes(data);
  return 'size' in data ? data.size : data.byteLength;
}

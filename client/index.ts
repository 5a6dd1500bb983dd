/**
 * SignalSocket: a WebSocket for the cevitxe signal server on AWS. On relay URLs it restores the
 * pipe that API Gateway breaks (any size, binary, order, exactly once, keep-alive, resume across
 * cuts, flow control) with the framed transport of WIRE.md; on any other URL it is the
 * underlying WebSocket plus a keep-alive frame.
 *
 *   globalThis.WebSocket = SignalSocket;                                // browsers
 *   globalThis.WebSocket = signalSocket({ WebSocket: ws, keepAliveMs }); // Node with `ws`
 *
 * No Node built-ins: it runs in browsers and in Node ≥ 20 alike.
 */
import {
  Inbox,
  MalformedStream,
  MAX_HEADER_BYTES,
  Outbox,
  TRANSPORT_MARKER,
  ackFrame,
  dataFrame,
  fromBase64,
  helloFrame,
  parseFrame,
  toBase64,
  utf8Bytes,
  type Frame,
  type StreamRecord,
} from './wire.js';

export { TRANSPORT_MARKER } from './wire.js';

/** The WebSocket an implementation must offer underneath (the browser's, or `ws`). */
export interface UnderlyingSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => UnderlyingSocket;

export interface SignalSocketOptions {
  /** The underlying implementation. @default the global WebSocket as it was when this module loaded */
  readonly WebSocket?: WebSocketConstructor;
  /** Send a keep-alive frame after this long without sending anything. @default 5 min */
  readonly keepAliveMs?: number;
  /** After a cut, how long to wait for the relay to resume before closing with 4408. @default 60 s */
  readonly resumeWithinMs?: number;
  /** The largest wire frame, in UTF-8 bytes, header included. @default 32768 (API Gateway's limit) */
  readonly maxFrameBytes?: number;
  /** How long a received frame may wait before it is acknowledged on its own. @default 2 s */
  readonly ackDelayMs?: number;
  /** Resend unacknowledged frames when no acknowledgement came for this long. @default 5 s */
  readonly retransmitMs?: number;
}

/** Close codes of the transport itself (WIRE.md). */
export const CLOSE_CODES = {
  /** The relay did not resume within resumeWithinMs (the peer vanished). */
  RESUME_TIMEOUT: 4408,
  /** The server refused to pair a transport socket with a plain one. */
  MISMATCH: 4409,
  /** The peer's transport started a new stream (it restarted) while this one was resuming. */
  NEW_STREAM: 4410,
  /** The peer's frames broke the wire format. */
  PROTOCOL_ERROR: 4400,
} as const;

/**
 * Frames and bytes written on the current socket and not acknowledged, resent copies included, at
 * most. The server holds a socket's frames until its peer has them, at most 256 frames and 1 MiB:
 * held frames are at most those in flight plus stale copies of frames acknowledged meanwhile, so
 * twice the window, which stays below both bounds.
 */
const WINDOW_FRAMES = 64;
const WINDOW_BYTES = 384 * 1024;
/** The oldest frame in flight may be resent beyond the window this many times (it blocks all). */
const MAX_COPIES = 3;
/** The receiver acknowledges at once after this many frames or bytes: half and a quarter window. */
const ACK_EVERY_FRAMES = WINDOW_FRAMES / 2;
const ACK_EVERY_BYTES = WINDOW_BYTES / 4;
const MAX_RECONNECT_DELAY_MS = 2_000;
const LINGER_MS = 5_000;
const KEEP_ALIVE_INTRODUCTION = '{"type":"KeepAlive"}';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

interface ResolvedOptions {
  WebSocket: WebSocketConstructor | undefined;
  keepAliveMs: number;
  resumeWithinMs: number;
  maxFrameBytes: number;
  ackDelayMs: number;
  retransmitMs: number;
}

interface Globals {
  WebSocket?: WebSocketConstructor;
  Blob?: typeof Blob;
  MessageEvent?: new (type: string, init: { data: unknown }) => Event;
  CloseEvent?: new (
    type: string,
    init: { code: number; reason: string; wasClean: boolean },
  ) => Event;
  DOMException?: new (message: string, name: string) => Error;
  crypto?: { getRandomValues(array: Uint8Array): Uint8Array };
}

const globals = globalThis as unknown as Globals;
/** Captured now, so that `globalThis.WebSocket = SignalSocket` later never makes it its own base. */
const NATIVE_WEBSOCKET = globals.WebSocket;

const isMarked = Symbol('SignalSocket');

function resolve(options: SignalSocketOptions, base?: ResolvedOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    WebSocket: options.WebSocket ?? base?.WebSocket ?? NATIVE_WEBSOCKET,
    keepAliveMs: options.keepAliveMs ?? base?.keepAliveMs ?? 5 * 60_000,
    resumeWithinMs: options.resumeWithinMs ?? base?.resumeWithinMs ?? 60_000,
    maxFrameBytes: options.maxFrameBytes ?? base?.maxFrameBytes ?? 32 * 1024,
    ackDelayMs: options.ackDelayMs ?? base?.ackDelayMs ?? 2_000,
    retransmitMs: options.retransmitMs ?? base?.retransmitMs ?? 5_000,
  };
  for (const name of ['keepAliveMs', 'resumeWithinMs', 'ackDelayMs', 'retransmitMs'] as const)
    if (!(resolved[name] > 0))
      throw new RangeError(`signalSocket: ${name} must be a positive number`);
  if (!Number.isInteger(resolved.maxFrameBytes) || resolved.maxFrameBytes < 256)
    throw new RangeError('signalSocket: maxFrameBytes must be an integer of at least 256');
  if (resolved.WebSocket && isMarked in resolved.WebSocket)
    throw new TypeError('signalSocket: the underlying WebSocket cannot be a SignalSocket');
  return resolved;
}

function domError(message: string, name: string): Error {
  return globals.DOMException ? new globals.DOMException(message, name) : new Error(message);
}

function randomSession(): string {
  const bytes = new Uint8Array(8);
  if (globals.crypto) globals.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (byte) => byte.toString(36).padStart(2, '0')).join('');
}

function messageEvent(data: unknown): Event {
  if (globals.MessageEvent) return new globals.MessageEvent('message', { data });
  return Object.assign(new Event('message'), { data });
}

function closeEvent(code: number, reason: string, wasClean: boolean): Event {
  if (globals.CloseEvent) return new globals.CloseEvent('close', { code, reason, wasClean });
  return Object.assign(new Event('close'), { code, reason, wasClean });
}

/** Relay URLs, in the path form `/connection/…` or the query form `type=connection`. */
export function isRelayUrl(url: string): boolean {
  const parsed = new URL(url);
  return /\/connection\//.test(parsed.pathname) || parsed.searchParams.get('type') === 'connection';
}

/** The URL with the transport marker added, the rest byte for byte as given. */
function markedUrl(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}transport=${TRANSPORT_MARKER}`;
}

type Handler = ((event: Event) => unknown) | null;
type Payload = string | ArrayBuffer | ArrayBufferView | Blob;

interface InFlight {
  seq: number;
  segment: string;
  bytes: number;
  /** Times written on the current socket. */
  copies: number;
}

export class SignalSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  static readonly [isMarked] = true;
  /** The defaults of this class; signalSocket() makes subclasses with others. */
  protected static options: ResolvedOptions = resolve({});

  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  readonly url: string;
  protocol = '';
  extensions = '';

  private readyStateValue: number = CONNECTING;
  private binaryTypeValue: 'blob' | 'arraybuffer' = globals.Blob ? 'blob' : 'arraybuffer';
  private readonly handlers: Record<'open' | 'message' | 'error' | 'close', Handler> = {
    open: null,
    message: null,
    error: null,
    close: null,
  };
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
  private readonly outbox = new Outbox();
  private readonly inbox = new Inbox();
  private nextSeq = 1;
  private inFlight: InFlight[] = [];
  /** Written on the current socket and not acknowledged, resent copies included. */
  private inFlightBytes = 0;
  private inFlightFrames = 0;
  private resendFrom = 0;
  private acked = 0;
  /** The acknowledgement we last sent, and how much of the stream it covered. */
  private ackSent = 0;
  private ackSentUnits = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
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
  private closeRequest: { code: number; reason: string } | undefined;
  private closeQueued = false;
  private closeSeq: number | undefined;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;

  constructor(url: string | URL, protocols?: string | string[]) {
    super();
    this.options = new.target.options;
    if (!this.options.WebSocket)
      throw new TypeError(
        'SignalSocket: no WebSocket implementation here; pass one with signalSocket({ WebSocket })',
      );
    const given = String(url);
    let parsed: URL;
    try {
      parsed = new URL(given);
    } catch {
      throw domError(`SignalSocket: invalid URL ${given}`, 'SyntaxError');
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
      throw domError(`SignalSocket: the URL's scheme must be ws or wss: ${given}`, 'SyntaxError');
    this.url = parsed.href;
    this.relay = isRelayUrl(given);
    this.wireUrl = this.relay ? markedUrl(given) : given;
    this.protocols = protocols;
    for (const type of ['open', 'message', 'error', 'close'] as const)
      this.addEventListener(type, (event) => this.handlers[type]?.call(this, event));
    this.connect();
  }

  get readyState(): number {
    return this.readyStateValue;
  }

  get binaryType(): 'blob' | 'arraybuffer' {
    return this.binaryTypeValue;
  }

  set binaryType(value: 'blob' | 'arraybuffer') {
    if (value !== 'blob' && value !== 'arraybuffer') return;
    this.binaryTypeValue = value;
    if (!this.relay && this.socket) this.socket.binaryType = value;
  }

  get bufferedAmount(): number {
    if (!this.relay) return this.socket?.bufferedAmount ?? 0;
    return this.outbox.buffered + this.chainedBytes;
  }

  get onopen(): Handler {
    return this.handlers.open;
  }
  set onopen(handler: Handler) {
    this.handlers.open = typeof handler === 'function' ? handler : null;
  }
  get onmessage(): Handler {
    return this.handlers.message;
  }
  set onmessage(handler: Handler) {
    this.handlers.message = typeof handler === 'function' ? handler : null;
  }
  get onerror(): Handler {
    return this.handlers.error;
  }
  set onerror(handler: Handler) {
    this.handlers.error = typeof handler === 'function' ? handler : null;
  }
  get onclose(): Handler {
    return this.handlers.close;
  }
  set onclose(handler: Handler) {
    this.handlers.close = typeof handler === 'function' ? handler : null;
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
    this.closeRequest = { code: code ?? 1005, reason };
    this.enqueue({ kind: 'c', body: `${code ?? 1005} ${reason}` }, 0);
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
    // The server dropped whatever it held for the old socket.
    for (const frame of this.inFlight) frame.copies = 0;
    this.inFlightBytes = 0;
    this.inFlightFrames = 0;
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
    if (this.relay && !this.finished) this.write(helloFrame(this.session, this.inbox.received));
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
    this.clearTimer('retransmitTimer');
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
    this.ackSent = this.inbox.received;
    this.ackSentUnits = this.inbox.receivedUnits;
    this.clearTimer('ackTimer');
    this.armKeepAlive();
  }

  private armKeepAlive(): void {
    this.clearTimer('keepAliveTimer');
    if (this.finished) return;
    this.keepAliveTimer = setTimeout(() => {
      if (!this.socket || this.socket.readyState !== OPEN) return;
      if (this.relay)
        this.write(
          this.helloConfirmed
            ? ackFrame(this.inbox.received)
            : helloFrame(this.session, this.inbox.received),
        );
      else {
        this.socket.send(KEEP_ALIVE_INTRODUCTION);
        this.armKeepAlive();
      }
    }, this.options.keepAliveMs);
  }

  private clearTimer(
    name:
      | 'keepAliveTimer'
      | 'ackTimer'
      | 'retransmitTimer'
      | 'pumpTimer'
      | 'closeTimer'
      | 'resumeTimer'
      | 'reconnectTimer',
  ): void {
    const timer = this[name];
    if (timer !== undefined) clearTimeout(timer);
    this[name] = undefined;
  }

  /** The stream is over for the app: one close event, every timer stopped. */
  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.readyStateValue = CLOSED;
    for (const name of [
      'keepAliveTimer',
      'ackTimer',
      'retransmitTimer',
      'pumpTimer',
      'closeTimer',
      'resumeTimer',
      'reconnectTimer',
    ] as const)
      this.clearTimer(name);
    this.dispatchEvent(closeEvent(code, reason, wasClean));
  }

  // ---- sending -------------------------------------------------------------------------------

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
        this.closeRequest ??= { code: 1011, reason: 'a Blob could not be read' };
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
  private schedulePump(): void {
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

  private pump(): void {
    if (!this.ready || !this.helloConfirmed || this.finished) return;
    if (!this.socket || this.socket.readyState !== OPEN) return;
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
      this.write(dataFrame(frame.seq, this.inbox.received, frame.segment));
      this.armRetransmit();
    }
  }

  private armRetransmit(): void {
    if (this.retransmitTimer !== undefined) return;
    this.retransmitTimer = setTimeout(() => {
      this.retransmitTimer = undefined;
      if (this.inFlight.length === 0) return;
      this.resendFrom = 0;
      this.pump();
    }, this.options.retransmitMs);
  }

  private onAck(ack: number): void {
    if (ack <= this.acked) return;
    if (ack >= this.nextSeq) return this.fail(CLOSE_CODES.PROTOCOL_ERROR, 'ack of an unsent frame');
    this.acked = ack;
    let done = 0;
    for (; done < this.inFlight.length && this.inFlight[done]!.seq <= ack; done++) {
      const frame = this.inFlight[done]!;
      this.inFlightBytes -= frame.bytes * frame.copies;
      this.inFlightFrames -= frame.copies;
    }
    this.inFlight = this.inFlight.slice(done);
    this.resendFrom = Math.max(0, this.resendFrom - done);
    this.clearTimer('retransmitTimer');
    if (this.inFlight.length > 0) this.armRetransmit();
    // Recovering from a throttle: speed up again while acknowledgements come.
    this.paceMs = this.paceMs > 1 ? this.paceMs * 0.8 : 0;
    if (this.closeSeq !== undefined && ack >= this.closeSeq) return this.endLocalClose(true);
    this.schedulePump();
  }

  /** The peer acknowledged our close (or it never will): end the stream and the socket. */
  private endLocalClose(clean: boolean): void {
    const { code, reason } = this.closeRequest ?? { code: 1005, reason: '' };
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
      this.schedulePump();
    }
    if (!this.ready) {
      this.early.push(frame);
      return;
    }
    this.onAck(frame.ack);
    if (frame.type === 'data') this.onData(frame.seq, frame.segment);
  }

  private onHello(session: string, ack: number): void {
    if (this.ready) {
      // The peer sent its hello again: it has not seen our confirmation.
      this.onAck(ack);
      return this.write(ackFrame(this.inbox.received));
    }
    // A new stream where data already flowed with the old one cannot continue it. (A peer that
    // has exchanged nothing yet may be replaced: it was a transport that gave up, not a stream.)
    if (this.peerSession !== session && (this.inbox.received > 0 || this.acked > 0))
      return this.fail(CLOSE_CODES.NEW_STREAM, 'the peer started a new stream');
    this.peerSession = session;
    this.ready = true;
    // Confirms the hello: the peer sends data only once it knows that its hello, held by the
    // server until we arrived, was delivered. Its socket is then flushed (the server's held-frames
    // path is over) and its data takes the direct path.
    this.write(ackFrame(this.inbox.received));
    this.attempts = 0;
    this.clearTimer('resumeTimer');
    // Whatever was in flight on an earlier socket is resent, from the first frame not acked.
    this.resendFrom = 0;
    this.onAck(ack);
    const early = this.early;
    this.early = [];
    for (const frame of early) {
      if (this.finished && !this.lingering) return;
      if (frame.type === 'ack' || frame.type === 'data') this.onAck(frame.ack);
      if (frame.type === 'data') this.onData(frame.seq, frame.segment);
    }
    this.schedulePump();
  }

  private onData(seq: number, segment: string): void {
    let records: StreamRecord[];
    try {
      records = this.inbox.accept(seq, segment);
    } catch (error) {
      if (error instanceof MalformedStream)
        return this.fail(CLOSE_CODES.PROTOCOL_ERROR, error.message);
      throw error;
    }
    this.owe();
    for (const record of records) {
      if (record.kind === 'c') return this.onPeerClose(record.body);
      if (this.finished) continue;
      if (record.kind === 't') this.dispatchEvent(messageEvent(record.body));
      else {
        const bytes = fromBase64(record.body);
        const data =
          this.binaryTypeValue === 'blob' && globals.Blob
            ? new globals.Blob([bytes])
            : bytes.buffer;
        this.dispatchEvent(messageEvent(data));
      }
    }
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
    this.clearTimer('ackTimer');
    this.pump();
    if (this.ackSent < this.inbox.received) this.write(ackFrame(this.inbox.received));
  }

  /** The peer's app closed: everything it sent before has been delivered. */
  private onPeerClose(body: string): void {
    const space = body.indexOf(' ');
    const code = Number(body.slice(0, space));
    const reason = body.slice(space + 1);
    this.write(ackFrame(this.inbox.received));
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
    // API Gateway dropped one of our frames (throttled, or an internal error): slow down, then
    // resend what is not acknowledged.
    const now = Date.now();
    if (now < this.pausedUntil) return;
    this.paceMs = Math.min(1_000, Math.max(10, this.paceMs * 2));
    this.pausedUntil = now + Math.max(200, this.paceMs * 10);
    this.resendFrom = 0;
    // The dropped frame may have been our hello: then the peer waits for it.
    if (!this.helloConfirmed) this.write(helloFrame(this.session, this.inbox.received));
    this.pumpAt(this.pausedUntil);
  }

  private fail(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.lingering = false;
    socket?.close(1000);
    this.finish(code, reason, false);
  }
}

/** SignalSocket with other defaults: `globalThis.WebSocket = signalSocket({ WebSocket: ws })`. */
export function signalSocket(options: SignalSocketOptions = {}): typeof SignalSocket {
  const resolved = resolve(
    options,
    (SignalSocket as unknown as { options: ResolvedOptions }).options,
  );
  return class extends SignalSocket {
    protected static override options = resolved;
  };
}

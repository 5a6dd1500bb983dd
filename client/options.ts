/**
 * SignalSocket's configuration surface: the underlying WebSocket it needs, its options and their
 * defaults, the transport's close codes, and which URLs are relay URLs.
 */
import { domError, globals } from './dom.js';
import { TRANSPORT_MARKER } from './wire.js';

/**
 * An event handler slot of the underlying socket. Method syntax makes its parameter bivariant, so
 * implementations whose handlers take richer events (`ws`'s, the DOM's) fit without a cast.
 */
type HandlerSlot<E> = { handle(event: E): void }['handle'] | null;

/** The WebSocket an implementation must offer underneath (the browser's, or `ws`). */
export interface UnderlyingSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  onopen: HandlerSlot<unknown>;
  onmessage: HandlerSlot<{ data: unknown }>;
  onerror: HandlerSlot<unknown>;
  onclose: HandlerSlot<{ code: number; reason: string; wasClean: boolean }>;
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
  /**
   * How long after the last data frame read the receiver acknowledges on its own, when the sender
   * did not ask for it at once (the sender's probe timeout, counted from its last write, allows
   * for it, as QUIC's max_ack_delay). @default 200 ms
   */
  readonly ackDelayMs?: number;
  /**
   * The longest the sender waits for an acknowledgement before resending (the timeout is derived
   * from measured round trips, and backs off up to this). @default 5 s
   */
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

export interface ResolvedOptions {
  WebSocket: WebSocketConstructor | undefined;
  keepAliveMs: number;
  resumeWithinMs: number;
  maxFrameBytes: number;
  ackDelayMs: number;
  retransmitMs: number;
}

/** Captured now, so that `globalThis.WebSocket = SignalSocket` later never makes it its own base. */
const NATIVE_WEBSOCKET = globals.WebSocket;

/** Marks SignalSocket classes, which cannot be the underlying WebSocket. */
export const isMarked = Symbol('SignalSocket');

export function resolve(options: SignalSocketOptions, base?: ResolvedOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    WebSocket: options.WebSocket ?? base?.WebSocket ?? NATIVE_WEBSOCKET,
    keepAliveMs: options.keepAliveMs ?? base?.keepAliveMs ?? 5 * 60_000,
    resumeWithinMs: options.resumeWithinMs ?? base?.resumeWithinMs ?? 60_000,
    maxFrameBytes: options.maxFrameBytes ?? base?.maxFrameBytes ?? 32 * 1024,
    ackDelayMs: options.ackDelayMs ?? base?.ackDelayMs ?? 200,
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

/**
 * A WebSocket's subprotocols, as browsers take them or as Node's own WebSocket does (an init
 * object): either way SignalSocket is assignable to the platform's WebSocket type.
 */
export type Protocols = string | string[] | { readonly protocols?: string | string[] };

export function subprotocols(protocols: Protocols | undefined): string | string[] | undefined {
  return typeof protocols === 'object' && !Array.isArray(protocols)
    ? protocols.protocols
    : protocols;
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

/**
 * A SignalSocket's URLs: as the app sees it (`url`, validated as a WebSocket validates it) and as
 * it is dialled (`wireUrl`, marked on relay URLs).
 */
export function socketUrls(url: string | URL): { url: string; relay: boolean; wireUrl: string } {
  const given = String(url);
  let parsed: URL;
  try {
    parsed = new URL(given);
  } catch {
    throw domError(`SignalSocket: invalid URL ${given}`, 'SyntaxError');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    throw domError(`SignalSocket: the URL's scheme must be ws or wss: ${given}`, 'SyntaxError');
  const relay = isRelayUrl(given);
  return { url: parsed.href, relay, wireUrl: relay ? markedUrl(given) : given };
}

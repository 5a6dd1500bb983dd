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
 *
 * The modules: options.ts (options, close codes, URLs), surface.ts (the WHATWG WebSocket
 * surface), relay.ts (the relay handshake and the frames read), socket.ts (the underlying socket's
 * lifecycle; its factory is here), sender.ts and receiver.ts (the two sides of the relay stream),
 * pacer.ts (round trips and pace), wire.ts (the frames of WIRE.md), dom.ts (platform objects).
 */
import { resolve, type ResolvedOptions, type SignalSocketOptions } from './options.js';
import { SignalSocket } from './socket.js';

export {
  CLOSE_CODES,
  isRelayUrl,
  type SignalSocketOptions,
  type UnderlyingSocket,
  type WebSocketConstructor,
} from './options.js';
export { SignalSocket };
export type { TransportCounters } from './relay.js';
export { TRANSPORT_MARKER } from './wire.js';

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

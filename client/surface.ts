/**
 * The WHATWG WebSocket surface that SignalSocket shares with any WebSocket: the state constants,
 * readyState, binaryType, protocol and extensions, and the on… event handler attributes.
 */
import { globals } from './dom.js';

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

export type Handler = ((event: Event) => unknown) | null;
type EventName = 'open' | 'message' | 'error' | 'close';

export abstract class WebSocketSurface extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  protocol = '';
  extensions = '';

  protected state: number = CONNECTING;
  protected binaryKind: 'blob' | 'arraybuffer' = globals.Blob ? 'blob' : 'arraybuffer';
  readonly #handlers: Record<EventName, Handler> = {
    open: null,
    message: null,
    error: null,
    close: null,
  };

  constructor() {
    super();
    for (const type of ['open', 'message', 'error', 'close'] as const)
      this.addEventListener(type, (event) => this.#handlers[type]?.call(this, event));
  }

  /** The app chose another binaryType. */
  protected abstract onBinaryType(value: 'blob' | 'arraybuffer'): void;

  get readyState(): number {
    return this.state;
  }

  get binaryType(): 'blob' | 'arraybuffer' {
    return this.binaryKind;
  }

  set binaryType(value: 'blob' | 'arraybuffer') {
    if (value !== 'blob' && value !== 'arraybuffer') return;
    this.binaryKind = value;
    this.onBinaryType(value);
  }

  get onopen(): Handler {
    return this.#handlers.open;
  }
  set onopen(handler: Handler) {
    this.#handlers.open = typeof handler === 'function' ? handler : null;
  }
  get onmessage(): Handler {
    return this.#handlers.message;
  }
  set onmessage(handler: Handler) {
    this.#handlers.message = typeof handler === 'function' ? handler : null;
  }
  get onerror(): Handler {
    return this.#handlers.error;
  }
  set onerror(handler: Handler) {
    this.#handlers.error = typeof handler === 'function' ? handler : null;
  }
  get onclose(): Handler {
    return this.#handlers.close;
  }
  set onclose(handler: Handler) {
    this.#handlers.close = typeof handler === 'function' ? handler : null;
  }
}

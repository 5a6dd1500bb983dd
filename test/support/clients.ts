/**
 * Real `ws` clients for the end-to-end suites, with awaitable reads: every wait resolves on an
 * event (a frame, a close, a pong) and fails after a timeout with what was seen instead.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/** The header carrying each test socket's tag, so that its `$connect` event can be found. */
export const TAG_HEADER = 'X-Test-Socket';

export interface Closed {
  code: number;
  reason: string;
}

export interface Refusal {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

const DEFAULT_TIMEOUT_MS = 5_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A connected client socket that records every text frame it receives. */
export class TestSocket {
  /** Every text frame received, in arrival order. */
  readonly received: string[] = [];
  /** Binary frames received (the server never sends any). */
  readonly binary: Buffer[] = [];
  /** Resolves when the socket has closed, with the code and reason the client saw. */
  readonly closed: Promise<Closed>;
  private read = 0;
  private readonly listeners = new Set<() => void>();
  private closedWith?: Closed;

  private constructor(
    readonly ws: WebSocket,
    /** Sent as the X-Test-Socket header: finds this socket's events (TestGateway.connectionId). */
    readonly tag: string,
  ) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      if (isBinary) this.binary.push(bytes);
      else this.received.push(bytes.toString());
      this.notify();
    });
    this.closed = new Promise<Closed>((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
        this.notify();
      }),
    );
    ws.on('error', () => undefined); // surfaced through `closed`
  }

  /** Opens a socket; rejects with the HTTP status when the handshake is refused. */
  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<TestSocket> {
    const tag = randomUUID();
    const ws = new WebSocket(url, {
      ...options,
      headers: { [TAG_HEADER]: tag, ...options.headers },
    });
    return withTimeout(
      new Promise<TestSocket>((resolve, reject) => {
        const socket = new TestSocket(ws, tag);
        ws.once('open', () => resolve(socket));
        ws.once('unexpected-response', (_req, res) => {
          reject(new Error(`handshake refused with ${res.statusCode}`));
          res.resume();
          ws.terminate();
        });
        ws.on('error', reject);
      }),
      DEFAULT_TIMEOUT_MS,
      () => `opening ${url}`,
    );
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Frames received and not yet read by next(). */
  unread(): string[] {
    return this.received.slice(this.read);
  }

  send(data: string | Buffer | object, options: { binary?: boolean } = {}): void {
    const payload = typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data);
    this.ws.send(payload, { binary: options.binary ?? false });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `ready()` returns a value, re-checked on every frame and on close. */
  private until<T>(ready: () => T | undefined, ms: number, what: () => string): Promise<T> {
    let listener: (() => void) | undefined;
    const result = new Promise<T>((resolve, reject) => {
      listener = () => {
        try {
          const value = ready();
          if (value === undefined) return;
          // Unregistered at once: a frame arriving in the same tick belongs to the next reader.
          this.listeners.delete(listener!);
          resolve(value);
        } catch (error) {
          this.listeners.delete(listener!);
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
      this.listeners.add(listener);
      listener();
    });
    return withTimeout(result, ms, what).finally(() => this.listeners.delete(listener!));
  }

  /** The next unread text frame. Fails if the socket closes first. */
  next(ms = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.until(
      () => {
        if (this.read < this.received.length) return this.received[this.read++];
        if (this.closedWith)
          throw new Error(`socket closed (${this.closedWith.code}) while waiting for a frame`);
        return undefined;
      },
      ms,
      () => `waiting for a frame (read ${this.read}, received ${this.received.length})`,
    );
  }

  /** The next unread text frame, parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(ms = DEFAULT_TIMEOUT_MS): Promise<T> {
    return JSON.parse(await this.next(ms)) as T;
  }

  /** The next `count` unread text frames. */
  async take(count: number, ms = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const frames: string[] = [];
    for (let i = 0; i < count; i++) frames.push(await this.next(ms));
    return frames;
  }

  /**
   * A ping/pong round trip: when it resolves, every frame the server wrote before answering
   * the ping has arrived (one TCP stream, in order).
   */
  sync(ms = DEFAULT_TIMEOUT_MS): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => {
        this.ws.once('pong', () => resolve());
        this.ws.ping();
      }),
      ms,
      () => 'waiting for a pong',
    );
  }

  /** Closes from the client side and waits for the close handshake. */
  close(code?: number, reason?: string): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code, reason);
    return this.closed;
  }

  /** Waits for the server to close the socket. */
  closedBy(ms = DEFAULT_TIMEOUT_MS): Promise<Closed> {
    return withTimeout(this.closed, ms, () => 'waiting for the server to close the socket');
  }
}

/** Attempts a handshake that must be refused; resolves with the HTTP answer. */
export function refusal(url: string, options: WebSocket.ClientOptions = {}): Promise<Refusal> {
  const ws = new WebSocket(url, options);
  return withTimeout(
    new Promise<Refusal>((resolve, reject) => {
      ws.once('open', () => {
        ws.close();
        reject(new Error(`handshake to ${url} was accepted`));
      });
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
          });
          ws.terminate();
        });
      });
      ws.on('error', reject);
    }),
    DEFAULT_TIMEOUT_MS,
    () => `waiting for ${url} to be refused`,
  );
}

/** Opens several sockets at once. */
export const openAll = (urls: string[], options?: WebSocket.ClientOptions) =>
  Promise.all(urls.map((url) => TestSocket.open(url, options)));

/** Closes every socket still open; for afterEach. */
export async function closeAll(sockets: Iterable<TestSocket>): Promise<void> {
  await Promise.all([...sockets].map((socket) => socket.close()));
}

/**
 * The one WebSocket client of the tests, the harnesses (load, reorder, smoke) and the bench: a
 * real `ws` socket that records every frame it receives, with awaitable reads. Every wait
 * resolves on an event (a frame, a close, a pong) and fails after its time with what was seen
 * instead; a refused handshake fails with its HTTP status and body.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
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

/** A time allowed, counted from its making: several waits can share one. */
export class Deadline {
  readonly at: number;
  constructor(readonly ms: number) {
    this.at = Date.now() + ms;
  }
  get remaining(): number {
    return Math.max(0, this.at - Date.now());
  }
}

/** A wait's time: milliseconds from now, or a deadline shared with other waits. */
export type Within = number | Deadline;
const deadline = (within: Within) => (typeof within === 'number' ? new Deadline(within) : within);

/** The text of a frame as `ws` hands it over (one buffer, fragments, or an ArrayBuffer). */
export function bytesOf(data: WebSocket.RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** An error's message, the network's code when it has none, each cause of an aggregate once. */
export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0)
    return [...new Set(error.errors.map(errorText))].join('; ');
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

/** A URL fit for printing: the token's value hidden. */
export const shown = (url: string) => url.replace(/([?&]token=)[^&]*/g, '$1***');

export const clip = (text: string, max = 160) =>
  text.length > max ? `${text.slice(0, max)}…` : text;

/** A handshake the server answered with an HTTP response instead of upgrading. */
export class HandshakeRefused extends Error {
  constructor(
    readonly refusal: Refusal,
    statusMessage: string,
  ) {
    const body = refusal.body.trim();
    super(
      `handshake refused with HTTP ${refusal.status} ${statusMessage}`.trimEnd() +
        (body ? `: ${clip(body.replace(/\s+/g, ' '))}` : ''),
    );
  }
}

export interface OpenOptions extends WebSocket.ClientOptions {
  /** Names the socket in error messages. @default 'the socket' */
  label?: string;
  /** Time allowed for the handshake. @default 5 s */
  within?: Within;
  /** Send the X-Test-Socket header (for TestGateway.connectionId). @default true */
  tagged?: boolean;
}

/**
 * Resolves once the handshake is done, or rejects saying why: the refusal (a HandshakeRefused
 * with the status and body), the network error, or the time running out.
 */
function opened(ws: WebSocket, url: string, label: string, time: Deadline): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (why: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      const error = new Error(`${label} could not connect to ${shown(url)}: ${why.message}`, {
        cause: why,
      });
      reject(
        why instanceof HandshakeRefused ? Object.assign(why, { message: error.message }) : error,
      );
    };
    const timer = setTimeout(
      () => fail(new Error(`no handshake within ${time.ms} ms`)),
      Math.max(1, time.remaining),
    );
    // After settling, errors are the socket's own business (reported through its close).
    ws.on('error', (error) => fail(new Error(errorText(error))));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const refuse = () =>
        fail(
          new HandshakeRefused(
            {
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              headers: res.headers,
            },
            res.statusMessage ?? '',
          ),
        );
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', refuse);
      res.on('error', refuse);
      res.on('close', refuse);
    });
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A connected client socket that records every frame it receives. */
export class TestSocket {
  /** Every text frame received, in arrival order. */
  readonly received: string[] = [];
  /** Binary frames received (the server never sends any). */
  readonly binary: Buffer[] = [];
  /** Resolves when the socket has closed, with the code and reason the client saw. */
  readonly closed: Promise<Closed>;
  /** How the socket closed, once it has. */
  closedWith?: Closed;
  private read = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly ws: WebSocket,
    /** Sent as the X-Test-Socket header: finds this socket's events (TestGateway.connectionId). */
    readonly tag: string,
    /** Names the socket in error messages. */
    readonly label: string,
  ) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const bytes = bytesOf(data);
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

  /** Opens a socket; rejects with a HandshakeRefused (status and body) when it is refused. */
  static async open(url: string, options: OpenOptions = {}): Promise<TestSocket> {
    const { label = 'the socket', within = DEFAULT_TIMEOUT_MS, tagged = true, ...rest } = options;
    const tag = randomUUID();
    const time = deadline(within);
    const ws = new WebSocket(url, {
      handshakeTimeout: Math.max(1, time.remaining),
      ...rest,
      headers: { ...(tagged ? { [TAG_HEADER]: tag } : {}), ...rest.headers },
    });
    // Listening before the handshake ends: a frame may follow it in the same packet.
    const socket = new TestSocket(ws, tag, label);
    await opened(ws, url, label, time);
    return socket;
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

  /** Sends a text frame; resolves once it is handed to the network. */
  write(text: string): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.ws.send(text, (error) =>
        error ? reject(new Error(`${this.label} could not send: ${errorText(error)}`)) : resolve(),
      ),
    );
  }

  /** What this socket received since frame `from`, for messages. */
  describeReceived(from = 0): string {
    const frames = this.received.slice(from);
    const binary = this.binary.length ? ` (and ${this.binary.length} binary frames)` : '';
    if (frames.length === 0) return `nothing${binary}`;
    return clip(frames.join(' | '), 400) + binary;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with what `ready` returns once it returns something: it runs now, on every frame
   * and on the close, and may throw to fail at once (an unexpected frame). Fails when the time
   * runs out, or when the socket has closed and `ready` still returns nothing.
   */
  until<T>(
    what: string,
    ready: () => T | undefined,
    within: Within = DEFAULT_TIMEOUT_MS,
  ): Promise<T> {
    const time = deadline(within);
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(attempt);
        settle();
      };
      const attempt = () => {
        let value: T | undefined;
        try {
          value = ready();
        } catch (error) {
          return finish(() => reject(error instanceof Error ? error : new Error(String(error))));
        }
        // Unregistered at once: a frame arriving in the same tick belongs to the next reader.
        if (value !== undefined) return finish(() => resolve(value));
        if (this.closedWith) {
          const { code, reason } = this.closedWith;
          finish(() =>
            reject(
              new Error(
                `${this.label} was closed (${code}${reason ? ` ${reason}` : ''}) while waiting for ${what}; it received ${this.describeReceived()}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `no ${what} within ${time.ms} ms; ${this.label} received ${this.describeReceived()}`,
              ),
            ),
          ),
        time.remaining,
      );
      this.listeners.add(attempt);
      attempt();
    });
  }

  /** The next unread text frame. Fails if the socket closes first. */
  next(within: Within = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.until(
      `frame ${this.read + 1}`,
      () => (this.read < this.received.length ? this.received[this.read++] : undefined),
      within,
    );
  }

  /** The next unread text frame, parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(within: Within = DEFAULT_TIMEOUT_MS): Promise<T> {
    return JSON.parse(await this.next(within)) as T;
  }

  /** The next `count` unread text frames. */
  async take(count: number, within: Within = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const time = deadline(within);
    const frames: string[] = [];
    for (let i = 0; i < count; i++) frames.push(await this.next(time));
    return frames;
  }

  /**
   * A ping/pong round trip: when it resolves, every frame the server wrote before answering
   * the ping has arrived (one TCP stream, in order). A closed socket has nothing more to come.
   */
  sync(within: Within = DEFAULT_TIMEOUT_MS): Promise<void> {
    if (!this.isOpen) return Promise.resolve();
    const time = deadline(within);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no pong within ${time.ms} ms (${this.label})`)),
        time.remaining,
      );
      this.ws.once('pong', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.ping();
    });
  }

  /**
   * Closes from the client side and waits for the close handshake; when `terminateAfter` is
   * given and the handshake takes longer, drops the connection instead.
   */
  close(code?: number, reason?: string, terminateAfter?: number): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code, reason);
    if (terminateAfter === undefined || this.closedWith) return this.closed;
    const timer = setTimeout(() => this.ws.terminate(), terminateAfter);
    return this.closed.finally(() => clearTimeout(timer));
  }

  /** Waits for the server to close the socket. */
  closedBy(within: Within = DEFAULT_TIMEOUT_MS): Promise<Closed> {
    return this.until('the server to close the socket', () => this.closedWith, within);
  }
}

/** Attempts a handshake that must be refused; resolves with the HTTP answer. */
export async function refusal(url: string, options: OpenOptions = {}): Promise<Refusal> {
  let socket: TestSocket;
  try {
    socket = await TestSocket.open(url, { tagged: false, ...options });
  } catch (error) {
    if (error instanceof HandshakeRefused) return error.refusal;
    throw error;
  }
  await socket.close();
  throw new Error(`handshake to ${url} was accepted`);
}

/** Opens several sockets at once. */
export const openAll = (urls: string[], options?: OpenOptions) =>
  Promise.all(urls.map((url) => TestSocket.open(url, options)));

/** Closes every socket still open; for afterEach. */
export async function closeAll(sockets: Iterable<TestSocket>): Promise<void> {
  await Promise.all([...sockets].map((socket) => socket.close()));
}

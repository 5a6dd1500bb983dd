/**
 * A small WebSocket client for the load and reorder scripts: records every text frame, resolves
 * waits on events (a frame, a close, a pong), never on fixed sleeps.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

export class Client {
  /** Text frames received, in arrival order. */
  readonly received: string[] = [];
  readonly closed: Promise<Closed>;
  closedWith?: Closed;
  private waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) this.received.push(Buffer.from(data as Buffer).toString());
      this.notify();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
        this.notify();
      }),
    );
    ws.on('error', () => undefined);
  }

  /** Opens a socket; rejects (with the HTTP status) when the handshake is refused. */
  static open(url: string, timeoutMs = 30_000): Promise<Client> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new Client(ws);
    return new Promise<Client>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`opening ${url} timed out`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(client);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        reject(new Error(`handshake refused with ${res.statusCode}`));
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | object): void {
    this.ws.send(typeof data === 'string' ? data : JSON.stringify(data));
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves once `done()` holds (checked on every frame and on close), or fails after `ms`. */
  until(done: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** A ping round trip: every frame the server wrote before answering it has arrived. */
  sync(ms = 30_000): Promise<void> {
    if (!this.isOpen) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a pong')), ms);
      this.ws.once('pong', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.ping();
    });
  }

  close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close();
    return this.closed;
  }
}

/** Runs `fn` over items with at most `limit` at once. */
export async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]!, index);
      }
    }),
  );
  return results;
}

/** Samples the process's memory while work runs. */
export class MemorySampler {
  readonly before = process.memoryUsage();
  peakRss = this.before.rss;
  peakHeap = this.before.heapUsed;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): NodeJS.MemoryUsage {
    const now = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, now.rss);
    this.peakHeap = Math.max(this.peakHeap, now.heapUsed);
    return now;
  }

  /** Stops sampling; collects garbage first (enabling gc at run time), then samples. */
  stop(): NodeJS.MemoryUsage {
    clearInterval(this.timer);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // Contexts made later (the edge rewrite's sandbox) must not see gc again.
    v8.setFlagsFromString('--no-expose-gc');
    gc();
    return this.sample();
  }
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

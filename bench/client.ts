/** A plain `ws` client for the bench: open, send, await frames and the close. */
import WebSocket from 'ws';

const rawText = (data: WebSocket.RawData): string =>
  (Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data)
  ).toString();

export class BenchSocket {
  /** Text frames received and not yet taken by next(). */
  private readonly unread: string[] = [];
  private wake?: () => void;
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.unread.push(rawText(data));
      this.wake?.();
    });
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => undefined); // a refused or dropped socket shows as its close
  }

  /** Opens a socket; rejects when the handshake is refused or takes over `ms`. */
  static open(url: string, ms = 10_000): Promise<BenchSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const socket = new BenchSocket(ws);
    return new Promise<BenchSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`opening ${url} took over ${ms} ms`));
      }, ms);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(socket);
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        reject(new Error(`handshake refused with HTTP ${res.statusCode} (${url})`));
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  send(data: string | object): void {
    this.ws.send(typeof data === 'string' ? data : JSON.stringify(data));
  }

  /** The next `count` frames, in arrival order. */
  async take(count: number, ms = 10_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.unread.length < count) {
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED)
        throw new Error(`expected ${count} frames, got ${this.unread.length}: ${this.unread[0]}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.unread.splice(0, count);
  }

  /** Closes the socket and resolves once it has closed. */
  async close(): Promise<void> {
    this.ws.close(1000);
    await this.closed;
  }
}

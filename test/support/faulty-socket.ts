/**
 * A fault-injecting underlying socket for SignalSocket: a real `ws` connection to the local
 * gateway, with each frame either way passed, dropped, delayed or duplicated as a test's rules
 * say, and cuts on demand. A dropped outgoing frame is answered as API Gateway answers a throttled
 * one: an error frame to the sender. Tests draw their chaos from a seeded generator
 * (testing/random.ts), so a run repeats.
 */
import WebSocket from 'ws';
import type { UnderlyingSocket, WebSocketConstructor } from '../../client/index.js';

/** What happens to one frame: pass, drop, pass twice, or pass after `delay` ms. */
export type Fate = 'pass' | 'drop' | 'duplicate' | { delay: number };

export interface FaultRules {
  /** A frame the SignalSocket writes on its `index`-th underlying socket (from 0). */
  send?(frame: string, index: number): Fate;
  /** A frame read from the gateway on the `index`-th socket. */
  receive?(frame: string, index: number): Fate;
  /** Dial this URL instead (a network that went away for good, say). */
  redirect?(url: string, index: number): string;
}

const THROTTLED = JSON.stringify({
  message: 'Too Many Requests',
  connectionId: 'fault-injected',
  requestId: 'fault-injected',
});

export class FaultySocket implements UnderlyingSocket {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  binaryType = 'arraybuffer';
  private readonly ws: WebSocket;

  constructor(
    url: string,
    private readonly rules: FaultRules,
    readonly index: number,
  ) {
    this.ws = new WebSocket(rules.redirect?.(url, index) ?? url);
    this.ws.on('open', () => this.onopen?.({}));
    this.ws.on('error', () => this.onerror?.({}));
    this.ws.on('close', (code, reason) =>
      this.onclose?.({ code, reason: reason.toString(), wasClean: code !== 1006 }),
    );
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString();
      this.apply(rules.receive?.(text, index) ?? 'pass', () => this.deliver(text));
    });
  }

  get readyState(): number {
    return this.ws.readyState;
  }
  get protocol(): string {
    return this.ws.protocol;
  }
  get extensions(): string {
    return this.ws.extensions;
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void {
    // SignalSocket writes text frames only.
    const frame = data as string;
    const fate = this.rules.send?.(frame, this.index) ?? 'pass';
    if (fate === 'drop') setTimeout(() => this.deliver(THROTTLED), 1);
    else
      this.apply(fate, () => {
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
      });
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** The network fails under this socket (a 1006 on both ends). */
  cut(): void {
    this.ws.terminate();
  }

  private deliver(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.onmessage?.({ data: text });
  }

  private apply(fate: Fate, pass: () => void): void {
    if (fate === 'pass') pass();
    else if (fate === 'duplicate') {
      pass();
      pass();
    } else if (fate !== 'drop') setTimeout(pass, fate.delay);
  }
}

/** An underlying WebSocket class under `rules`, and every socket it has made, in order. */
export function faulty(rules: FaultRules): {
  WebSocket: WebSocketConstructor;
  sockets: FaultySocket[];
} {
  const sockets: FaultySocket[] = [];
  class Faulty extends FaultySocket {
    constructor(url: string) {
      super(url, rules, sockets.length);
      sockets.push(this);
    }
  }
  return { WebSocket: Faulty, sockets };
}

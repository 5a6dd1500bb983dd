/**
 * SignalSockets for the transport's suites: real `ws` underneath, through the local gateway, with
 * awaitable reads (every wait resolves on an event and fails after a timeout with what was seen).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import {
  signalSocket,
  type SignalSocket,
  type SignalSocketOptions,
  type WebSocketConstructor,
} from '../../client/index.js';

export const Ws = WebSocket as unknown as WebSocketConstructor;

export type Received = string | Uint8Array;

/** The parts of MessageEvent and CloseEvent read here (Node 20's types lack both). */
type MessageLike = Event & { data: unknown };
type CloseLike = Event & Closed;

export interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** A SignalSocket that records what it receives, and when it closes. */
export class Endpoint {
  readonly received: Received[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private closedWith?: Closed;

  constructor(readonly socket: SignalSocket) {
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => {
      const { data } = event as MessageLike;
      this.received.push(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
      this.notify();
    });
    this.opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('close', () => reject(new Error('closed before it opened')));
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) =>
      socket.addEventListener('close', (event) => {
        const { code, reason, wasClean } = event as CloseLike;
        this.closedWith = { code, reason, wasClean };
        resolve(this.closedWith);
        this.notify();
      }),
    );
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `count` messages have arrived; fails on close or after `ms`. */
  until(count: number, ms = 20_000): Promise<Received[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.received.length >= count) {
          done();
          resolve(this.received.slice(0, count));
        } else if (this.closedWith) {
          done();
          reject(
            new Error(
              `closed (${this.closedWith.code} ${this.closedWith.reason}) after ${this.received.length} of ${count} messages`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.received.length} of ${count} messages within ${ms} ms`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  closedWithin(ms = 20_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

/** The two path-form relay URLs of a fresh pair on `base` (the gateway's ws:// root). */
export function pairUrls(base: string, suffix = ''): [string, string] {
  const run = randomUUID().slice(0, 8);
  const [a, b, key] = [`a-${run}`, `b-${run}`, `doc-${run}`];
  return [
    `${base}/connection/${a}/${b}/${key}${suffix}`,
    `${base}/connection/${b}/${a}/${key}${suffix}`,
  ];
}

/** Opens a pair of SignalSockets on one relay; each opens as soon as its handshake is accepted. */
export async function openPair(
  base: string,
  options: SignalSocketOptions = {},
): Promise<[Endpoint, Endpoint]> {
  const Socket = signalSocket({ WebSocket: Ws, ...options });
  const [urlA, urlB] = pairUrls(base);
  const a = new Endpoint(new Socket(urlA));
  const b = new Endpoint(new Socket(urlB));
  await Promise.all([a.opened, b.opened]);
  return [a, b];
}

/** Text of `size` UTF-16 units with multi-byte characters and surrogate pairs throughout. */
export function mixedText(size: number, seed = 0): string {
  const alphabet = ['a', 'é', '€', '🐟', 'z', ' ', '"', '\n', '中'];
  const parts: string[] = [];
  let length = 0;
  for (let i = seed; length < size; i++) {
    const piece = alphabet[(i * 7 + (i >> 3)) % alphabet.length]!;
    if (length + piece.length > size) {
      parts.push('x');
      length++;
    } else {
      parts.push(piece);
      length += piece.length;
    }
  }
  return parts.join('');
}

/** `size` bytes with every byte value, in a pattern that differs per seed. */
export function bytes(size: number, seed = 0): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

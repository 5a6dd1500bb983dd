/**
 * The web platform objects SignalSocket uses where the runtime has them (browsers, Node ≥ 20),
 * with plain fallbacks where it does not: events, DOMException, Blob, crypto.
 */
import type { WebSocketConstructor } from './options.js';

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

export const globals = globalThis as unknown as Globals;

export function domError(message: string, name: string): Error {
  return globals.DOMException ? new globals.DOMException(message, name) : new Error(message);
}

export function randomSession(): string {
  const bytes = new Uint8Array(8);
  if (globals.crypto) globals.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (byte) => byte.toString(36).padStart(2, '0')).join('');
}

export function messageEvent(data: unknown): Event {
  if (globals.MessageEvent) return new globals.MessageEvent('message', { data });
  return Object.assign(new Event('message'), { data });
}

export function closeEvent(code: number, reason: string, wasClean: boolean): Event {
  if (globals.CloseEvent) return new globals.CloseEvent('close', { code, reason, wasClean });
  return Object.assign(new Event('close'), { code, reason, wasClean });
}

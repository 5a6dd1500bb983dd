/**
 * SignalSocket takes its subprotocols as browsers pass them (a string or a list) and as Node's own
 * WebSocket does (an init object with `protocols`), which is what lets its type stand for Node's
 * global WebSocket; either way the underlying socket is dialled with the list itself.
 */
import { describe, expect, it } from 'vitest';
import { signalSocket, type WebSocketConstructor } from '../../client/index.js';

/** Records how it was dialled, then refuses, so that nothing goes on the network. */
function recording(calls: unknown[][]): WebSocketConstructor {
  return class {
    constructor(...args: unknown[]) {
      calls.push(args);
      throw new Error('recorded');
    }
  } as unknown as WebSocketConstructor;
}

describe('SignalSocket subprotocols', () => {
  it.each([
    ['a string', 'chat', 'chat'],
    ['a list', ['chat', 'v2'], ['chat', 'v2']],
    ["an init object's protocols", { protocols: ['chat', 'v2'] }, ['chat', 'v2']],
    ['an init object without protocols', {}, undefined],
  ])('dials the underlying socket with %s', (_name, given, dialled) => {
    const calls: unknown[][] = [];
    const Socket = signalSocket({ WebSocket: recording(calls) });
    expect(() => new Socket('ws://localhost:1/introduction/a', given)).toThrow('recorded');
    expect(calls).toEqual([['ws://localhost:1/introduction/a', dialled]]);
  });
});

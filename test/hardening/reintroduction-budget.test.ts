/**
 * The re-introduction budget, with the real handlers over a real DynamoDB API and the management
 * API in memory (test/support/world.ts), counting every post: one peer repeating a Join of keys it
 * holds makes at most one introduction fan-out per window, however it repeats it (one socket,
 * alternating sockets, all at once), while a socket's first Join is always served.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { describeEachBackend } from '../support/dynamodb.js';
import { worldPerTest, type World } from '../support/world.js';

const WINDOW_MS = DEFAULT_LIMITS.reintroductionWindowSeconds * 1000;
const FLOOD = 20;

describeEachBackend('re-introduction budget', (backend) => {
  let w: World;
  worldPerTest(backend, (fresh) => ({ w } = fresh));

  const tag = () => randomUUID().slice(0, 8);

  /** Five peers on `key`, each on its own socket; their own introductions are done. */
  async function crowd(key: string): Promise<string[]> {
    const sockets: string[] = [];
    for (let i = 0; i < 5; i++) {
      const socket = `q${i}-${tag()}`;
      await w.introduce(socket, `q${i}-${tag()}`);
      await w.join(socket, key);
      sockets.push(socket);
    }
    return sockets;
  }

  /** Posts made while `act` runs. */
  async function postsDuring(act: () => Promise<unknown>): Promise<number> {
    const before = w.sockets.posts.length;
    await act();
    return w.sockets.posts.length - before;
  }

  /** One fan-out to the crowd: the joiner told of 5 peers and each told of it. */
  const FAN_OUT = 10;

  it('re-introduces a peer repeating a Join of a held key at most once per window', async () => {
    const key = `doc-${tag()}`;
    await crowd(key);
    const peer = `a-${tag()}`;
    await w.introduce('ca', peer);
    expect(await postsDuring(() => w.join('ca', key))).toBe(FAN_OUT);

    // Repeated on the same socket, one after another: nothing more is posted.
    expect(
      await postsDuring(async () => {
        for (let i = 0; i < FLOOD; i++) await w.join('ca', key);
      }),
    ).toBe(0);

    // Past the window, one more fan-out, then none again; all at once, still one.
    w.advance(WINDOW_MS);
    expect(await postsDuring(() => w.join('ca', key))).toBe(FAN_OUT);
    expect(await postsDuring(() => w.join('ca', key))).toBe(0);
    w.advance(WINDOW_MS);
    expect(
      await postsDuring(() => Promise.all(Array.from({ length: FLOOD }, () => w.join('ca', key)))),
    ).toBe(FAN_OUT);
  });

  it('serves each socket’s first Join once, so alternating sockets buys no more fan-outs', async () => {
    const key = `doc-${tag()}`;
    await crowd(key);
    const peer = `a-${tag()}`;
    await w.introduce('ca', peer);
    await w.join('ca', key);
    // A second socket of the same peer id (a reconnect, another tab) is introduced at once.
    await w.introduce('ca2', peer);
    expect(await postsDuring(() => w.join('ca2', key))).toBe(FAN_OUT);
    expect(
      await postsDuring(async () => {
        for (let i = 0; i < FLOOD; i++) await w.join(i % 2 ? 'ca' : 'ca2', key);
      }),
    ).toBe(0);
  });

  it('always introduces a Join of a key the peer does not hold, and the other keys with it', async () => {
    const [key, other] = [`doc-${tag()}`, `doc-${tag()}`];
    await crowd(key);
    await w.introduce('ca', `a-${tag()}`);
    await w.join('ca', key);
    expect(await postsDuring(() => w.join('ca', key, other))).toBe(FAN_OUT);
  });
});

/**
 * What the product guarantees about frame order on one relay connection, each guarantee tested
 * (the rates of what it does not guarantee are measured by `npm run reorder`, testing/reorder.ts,
 * run small here for exactly-once only):
 *
 * 1. Every frame is delivered exactly once while both sockets stay open.
 * 2. Frames held before pairing are delivered before any frame the socket sends later.
 * 3. Held frames are delivered in the order API Gateway received them (requestTimeEpoch, in
 *    milliseconds), whatever order their invocations ran in; frames received in the same
 *    millisecond, in the order their invocations counted them.
 * 4. Frames whose invocations do not overlap are delivered in the order sent. Frames whose
 *    invocations overlap (a burst: API Gateway may run them concurrently) may arrive swapped.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { measureReorder } from '../../testing/reorder.js';
import { backends, describeEachBackend } from '../support/dynamodb.js';
import { worldPerTest, type World } from '../support/world.js';

describeEachBackend('frame order', (backend) => {
  let w: World;
  worldPerTest(backend, (fresh) => ({ w } = fresh));
  const ids = () => {
    const tag = randomUUID().slice(0, 8);
    return [`a-${tag}`, `b-${tag}`, `doc-${tag}`] as const;
  };
  /** A frame as API Gateway hands it over: received at `at` (requestTimeEpoch). */
  const frameAt = (connectionId: string, body: string, at: number) =>
    w.handlers.message({
      requestContext: { routeKey: '$default', connectionId, requestTimeEpoch: at },
      body,
    });

  it('delivers held frames in the order API Gateway received them, not the order their invocations ran', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    const t = Date.now();
    // Invocations run in another order than API Gateway received the frames.
    for (const [body, at] of [
      ['third', t + 2],
      ['first', t],
      ['second', t + 1],
    ] as const)
      await frameAt('ra', body, at);
    await w.relay('rb', b, a, key);
    await w.settled();
    expect(w.sockets.received('rb')).toEqual(['first', 'second', 'third']);
  });

  it('delivers every held frame before any frame sent later, though they race the pairing', async () => {
    for (let round = 0; round < 20; round++) {
      const [a, b, key] = ids();
      const [ra, rb] = [`ra-${round}`, `rb-${round}`];
      await w.relay(ra, a, b, key);
      for (const frame of ['h1', 'h2', 'h3']) await w.send(ra, frame);
      // The peer connects while a burst of later frames is handled concurrently.
      await Promise.all([
        w.relay(rb, b, a, key),
        ...['l1', 'l2', 'l3', 'l4'].map((frame) => w.send(ra, frame)),
      ]);
      await w.settled();
      const got = w.sockets.received(rb);
      expect(got.slice(0, 3)).toEqual(['h1', 'h2', 'h3']);
      expect([...got.slice(3)].sort()).toEqual(['l1', 'l2', 'l3', 'l4']);
    }
  });

  it('delivers frames whose invocations do not overlap in the order sent, both ways', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    await w.relay('rb', b, a, key);
    await w.settled();
    const frames = Array.from({ length: 30 }, (_, i) => `f${i}`);
    for (const frame of frames) {
      await w.send('ra', `a:${frame}`);
      await w.send('rb', `b:${frame}`);
    }
    expect(w.sockets.received('rb')).toEqual(['held', ...frames.map((f) => `a:${f}`)]);
    expect(w.sockets.received('ra')).toEqual(frames.map((f) => `b:${f}`));
  });
});

describe.each(backends())('npm run reorder, small, on $name', (backend) => {
  it('delivers every frame of every burst exactly once, held or direct, with invocation jitter', async () => {
    const rows = await measureReorder({
      pairs: 2,
      sizes: [2, 8],
      bursts: 2,
      jitterMs: 5,
      ...(backend.endpoint ? { dynamoDbEndpoint: backend.endpoint } : {}),
    });
    expect(rows.map((row) => [row.path, row.size, row.lostOrDuplicated])).toEqual([
      ['direct', 2, 0],
      ['direct', 8, 0],
      ['held', 2, 0],
      ['held', 8, 0],
    ]);
  });
});

/**
 * The handlers end to end over a real DynamoDB API, with an in-memory stand-in for the
 * management API (./fakes.ts): introductions, pairing, held frames, close propagation, gone
 * peers. The real @connections path is covered by the local gateway's end-to-end tests.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import type { Introduction } from '../../lambda/core/protocol.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';
import { signalWorld, type SignalWorld } from './fakes.js';
import { peersIndexedUnder } from '../../testing/peers.js';

describeEachBackend('handlers over the store', (backend) => {
  // A fresh table for every test: connection ids like 'ra' mean one socket per test.
  let s: OpenStore;
  let world: SignalWorld;
  let started: SignalWorld | undefined;
  const commands: string[] = [];
  beforeEach(async () => {
    s = await openStore(backend);
    started = undefined;
  });
  afterEach(async () => {
    await started?.deliveryInvoker.settled();
    commands.push(...s.commands);
    await s.close();
    expect(started?.errors ?? []).toEqual([]);
    expect(s.commands).not.toContain('ScanCommand');
  });
  const fresh = (limits = {}) => (started = world = signalWorld(s.store, limits));
  const tag = () => randomUUID().slice(0, 8);

  const introductions = (connectionId: string) =>
    world.connections
      .received(connectionId)
      .map((data) => JSON.parse(data) as Introduction)
      .filter((message) => message.type === 'Introduction');

  it('introduces N peers joining one key one after another N·(N−1) times', async () => {
    fresh();
    const key = `doc-${tag()}`;
    const peers = ['p0', 'p1', 'p2', 'p3', 'p4'].map((p) => `${p}-${tag()}`);
    for (const peer of peers) {
      await world.introduce(`c-${peer}`, peer);
      await world.send(`c-${peer}`, JSON.stringify({ type: 'Join', join: [key] }));
    }
    expect(world.connections.posts).toHaveLength(5 * 4);
    for (const peer of peers) {
      const got = introductions(`c-${peer}`);
      expect(got.map((message) => message.id).sort()).toEqual(
        peers.filter((p) => p !== peer).sort(),
      );
      expect(got.every((message) => message.keys.length === 1 && message.keys[0] === key)).toBe(
        true,
      );
    }
  });

  it('introduces every pair at least once when peers join at the same moment', async () => {
    fresh();
    const key = `doc-${tag()}`;
    const peers = Array.from({ length: 6 }, (_, i) => `p${i}-${tag()}`);
    for (const peer of peers) await world.introduce(`c-${peer}`, peer);
    await Promise.all(
      peers.map((peer) => world.send(`c-${peer}`, JSON.stringify({ type: 'Join', join: [key] }))),
    );
    for (const peer of peers) {
      const ids = new Set(introductions(`c-${peer}`).map((message) => message.id));
      expect([...ids].sort()).toEqual(peers.filter((p) => p !== peer).sort());
    }
  });

  it('introduces with the full list of shared keys, and forgets keys when the last socket closes', async () => {
    fresh();
    const [a, b, c] = ['a', 'b', 'c'].map((p) => `${p}-${tag()}`) as [string, string, string];
    const [k1, k2, k3] = ['k1', 'k2', 'k3'].map((k) => `${k}-${tag()}`) as [string, string, string];
    await world.introduce('ca', a);
    await world.introduce('cb', b);
    await world.send('ca', JSON.stringify({ type: 'Join', join: [k1, k2, k3] }));
    await world.send('cb', JSON.stringify({ type: 'Join', join: [k3, k1] }));
    expect(introductions('ca')).toEqual([{ type: 'Introduction', id: b, keys: [k3, k1] }]);
    expect(introductions('cb')).toEqual([{ type: 'Introduction', id: a, keys: [k3, k1] }]);

    await world.disconnect('ca');
    await world.introduce('cc', c);
    await world.send('cc', JSON.stringify({ type: 'Join', join: [k1, k2] }));
    expect(introductions('cc')).toEqual([{ type: 'Introduction', id: b, keys: [k1] }]);
  });

  it('keeps introducing a reconnected peer on its newer socket after the old one closes late', async () => {
    fresh();
    const key = `doc-${tag()}`;
    const [p, q, r] = ['p', 'q', 'r'].map((x) => `${x}-${tag()}`) as [string, string, string];
    await world.introduce('p-old', p);
    await world.send('p-old', JSON.stringify({ type: 'Join', join: [key] }));
    await world.introduce('p-new', p);
    await world.send('p-new', JSON.stringify({ type: 'Join', join: [key] }));
    await world.disconnect('p-old'); // late: after the new socket took over
    await world.introduce('cq', q);
    await world.send('cq', JSON.stringify({ type: 'Join', join: [key] }));
    await world.introduce('cr', r);
    await world.send('cr', JSON.stringify({ type: 'Join', join: [key] }));
    expect(introductions('p-new').map((message) => message.id)).toEqual([q, r]);
    expect(introductions('p-old')).toEqual([]);
  });

  it('answers bad input with an Error and keeps the socket working', async () => {
    fresh();
    const p = `p-${tag()}`;
    await world.introduce('cp', p);
    await world.send('cp', '{"type":"Join","join":"k"}');
    await world.send('cp', JSON.stringify({ type: 'Join', join: [`k-${tag()}`] }));
    expect(world.connections.received('cp')).toEqual([
      JSON.stringify({ type: 'Error', error: 'join must be an array of keys' }),
    ]);
    expect((await s.store.getPeer(p))?.keys).toHaveLength(1);
  });

  it('removes the records of an introduction socket that vanished without $disconnect', async () => {
    fresh();
    const key = `doc-${tag()}`;
    const [p, q] = ['p', 'q'].map((x) => `${x}-${tag()}`) as [string, string];
    await world.introduce('cp', p);
    await world.send('cp', JSON.stringify({ type: 'Join', join: [key] }));
    world.connections.open.delete('cp'); // gone, and its $disconnect never comes
    await world.introduce('cq', q);
    await world.send('cq', JSON.stringify({ type: 'Join', join: [key] }));
    expect(await s.store.getConnection('cp')).toBeUndefined();
    expect(await s.store.getPeer(p)).toBeUndefined();
    expect(await peersIndexedUnder(s.store, key)).toEqual([q]);
  });

  it('delivers frames held before pairing, in order, to a socket that never sends', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    for (let i = 1; i <= 5; i++) await world.send('ra', `frame ${i}`);
    expect(world.connections.posts).toEqual([]);

    await world.relay('rb', b, a, key);
    await world.deliveryInvoker.settled();
    expect(world.connections.received('rb')).toEqual([1, 2, 3, 4, 5].map((i) => `frame ${i}`));
    expect(await s.store.listHeld('ra')).toEqual([]);

    // The direct path is open now: later frames go straight, both ways.
    await world.send('ra', 'frame 6');
    await world.send('rb', 'reply');
    expect(world.connections.received('rb')).toHaveLength(6);
    expect(world.connections.received('rb').at(-1)).toBe('frame 6');
    expect(world.connections.received('ra')).toEqual(['reply']);
    expect(world.deliveryInvoker.jobs).toHaveLength(1);
  });

  it('keeps order when the first socket goes on sending while its held frames are delivered', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    for (let i = 1; i <= 3; i++) await world.send('ra', `frame ${i}`);
    await world.relay('rb', b, a, key);
    // Delivery is running in the background; the sender does not wait for it.
    for (let i = 4; i <= 10; i++) await world.send('ra', `frame ${i}`);
    await world.deliveryInvoker.settled();
    expect(world.connections.received('rb')).toEqual(
      Array.from({ length: 10 }, (_, i) => `frame ${i + 1}`),
    );
  });

  it('pairs without deferred delivery when nothing was held', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    await world.relay('rb', b, a, key);
    await world.send('ra', 'hello');
    expect(world.connections.received('rb')).toEqual(['hello']);
    expect(world.deliveryInvoker.jobs).toEqual([]);
  });

  it('closes the other side when one side leaves, and the second $disconnect is quick', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    await world.relay('rb', b, a, key);
    await world.disconnect('ra');
    expect(world.connections.closed).toEqual(['rb']);

    // rb's own $disconnect finds ra gone (record removed): no retrying 410 for the grace period.
    const started = Date.now();
    await world.disconnect('rb');
    expect(Date.now() - started).toBeLessThan(PAIRING_GRACE_MS / 10);
    expect(world.connections.goneAnswers.get('ra')).toBe(1);
    expect(await s.store.getConnection('ra')).toBeUndefined();
    expect(await s.store.getConnection('rb')).toBeUndefined();
  });

  it('closes a replaced waiting socket, and its late close leaves the successor to be paired', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra1', a, b, key);
    await world.send('ra1', 'from the replaced socket');
    await world.relay('ra2', a, b, key);
    expect(world.connections.closed).toEqual(['ra1']);
    await world.disconnect('ra1');
    expect(await s.store.listHeld('ra1')).toEqual([]);

    await world.send('ra2', 'from the successor');
    await world.relay('rb', b, a, key);
    await world.deliveryInvoker.settled();
    expect(world.connections.received('rb')).toEqual(['from the successor']);
  });

  it('closes the sender and removes stale records when the peer vanished without $disconnect', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    await world.relay('rb', b, a, key);
    await world.send('ra', 'one');
    world.connections.open.delete('rb'); // gone, and its $disconnect never comes
    world.advance(PAIRING_GRACE_MS + 1_000); // past the pairing grace: 410 means gone

    await world.send('ra', 'two');

    expect(world.connections.received('rb')).toEqual(['one']);
    expect(world.connections.closed).toEqual(['ra']);
    expect(await s.store.getConnection('rb')).toBeUndefined();
    expect(await s.store.getConnection('ra')).toBeDefined(); // until its own $disconnect
    await world.disconnect('ra');
    expect(await s.store.getConnection('ra')).toBeUndefined();
  });

  it('leaves no socket paired with one whose $connect failed; both sides pair afresh', async () => {
    fresh();
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    await world.send('ra', 'held');
    const deliverLater = world.deliveryInvoker.deliverLater.bind(world.deliveryInvoker);
    world.deliveryInvoker.deliverLater = () => Promise.reject(new Error('Rate exceeded'));
    await expect(
      world.connect('rb', { type: 'connection', localId: b, remoteId: a, key }),
    ).rejects.toThrow('Rate exceeded');
    world.deliveryInvoker.deliverLater = deliverLater;
    world.errors.length = 0; // the failure was logged, as it should be

    // The handshake was refused, so no $disconnect comes for rb; ra is closed instead of
    // holding frames for a peer that never opened.
    expect(world.connections.closed).toEqual(['ra']);
    expect(await s.store.getConnection('rb')).toBeUndefined();
    await world.disconnect('ra');

    await world.relay('ra2', a, b, key);
    await world.relay('rb2', b, a, key);
    await world.send('ra2', 'hello');
    expect(world.connections.received('rb2')).toEqual(['hello']);
  });

  it('closes a socket whose held frames go over the limit, and its pair never forms', async () => {
    fresh({ maxHeldFrames: 3 });
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await world.relay('ra', a, b, key);
    for (let i = 1; i <= 4; i++) await world.send('ra', `frame ${i}`);
    expect(world.connections.closed).toEqual(['ra']);
    await world.disconnect('ra');
    expect(await s.store.listHeld('ra')).toEqual([]);
    await world.relay('rb', b, a, key);
    await world.deliveryInvoker.settled();
    expect(world.connections.received('rb')).toEqual([]);
  });

  it('closes a socket that sends without a record', async () => {
    fresh();
    await world.send('ghost', 'hello');
    expect(world.connections.closed).toEqual([]); // it is not open in the fake either
    expect(world.connections.goneAnswers.get('ghost')).toBe(1);
  });

  it('refuses a bad handshake with 400 and records nothing', async () => {
    fresh();
    expect(
      await world.connect('bad', { type: 'connection', localId: 'a', remoteId: 'a', key: 'k' }),
    ).toBe(400);
    expect(await s.store.getConnection('bad')).toBeUndefined();
  });

  it('used no Scan in any of the flows above', () => {
    expect(commands.length).toBeGreaterThan(100);
    expect(new Set(commands)).not.toContain('ScanCommand');
    expect([...new Set(commands)]).toEqual(
      expect.arrayContaining(['QueryCommand', 'GetItemCommand', 'UpdateItemCommand']),
    );
  });
});

/**
 * The handlers end to end over a real DynamoDB API, with an in-memory stand-in for the
 * management API (the one world, test/support/world.ts): introductions, pairing, held frames,
 * close propagation, gone peers. The real @connections path is covered by the local gateway's
 * end-to-end tests.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import type { Introduction } from '../../lambda/core/protocol.js';
import { describeEachBackend, type OpenStore } from '../support/dynamodb.js';
import { worldPerTest, type FreshWorld, type World } from '../support/world.js';
import { peersIndexedUnder } from '../../testing/peers.js';

describeEachBackend('handlers over the store', (backend) => {
  // A fresh table for every test: connection ids like 'ra' mean one socket per test.
  let s: OpenStore;
  let w: World;
  let world: FreshWorld['world'];
  worldPerTest(backend, (fresh) => ({ s, w, world } = fresh));
  const commands: string[] = [];
  afterEach(async () => {
    await w.settled();
    commands.push(...s.commands, ...w.faults.commands);
    expect(w.errors).toEqual([]);
    expect(w.deliveries.failures).toEqual([]);
    expect(commands).not.toContain('ScanCommand');
  });
  const tag = () => randomUUID().slice(0, 8);

  const introductions = (connectionId: string) =>
    w.sockets
      .received(connectionId)
      .map((data) => JSON.parse(data) as Introduction)
      .filter((message) => message.type === 'Introduction');

  it('introduces N peers joining one key one after another N·(N−1) times', async () => {
    const key = `doc-${tag()}`;
    const peers = ['p0', 'p1', 'p2', 'p3', 'p4'].map((p) => `${p}-${tag()}`);
    for (const peer of peers) {
      await w.introduce(`c-${peer}`, peer);
      await w.send(`c-${peer}`, JSON.stringify({ type: 'Join', join: [key] }));
    }
    expect(w.sockets.posts).toHaveLength(5 * 4);
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
    const key = `doc-${tag()}`;
    const peers = Array.from({ length: 6 }, (_, i) => `p${i}-${tag()}`);
    for (const peer of peers) await w.introduce(`c-${peer}`, peer);
    await Promise.all(
      peers.map((peer) => w.send(`c-${peer}`, JSON.stringify({ type: 'Join', join: [key] }))),
    );
    for (const peer of peers) {
      const ids = new Set(introductions(`c-${peer}`).map((message) => message.id));
      expect([...ids].sort()).toEqual(peers.filter((p) => p !== peer).sort());
    }
  });

  it('introduces with the full list of shared keys, and forgets keys when the last socket closes', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((p) => `${p}-${tag()}`) as [string, string, string];
    const [k1, k2, k3] = ['k1', 'k2', 'k3'].map((k) => `${k}-${tag()}`) as [string, string, string];
    await w.introduce('ca', a);
    await w.introduce('cb', b);
    await w.send('ca', JSON.stringify({ type: 'Join', join: [k1, k2, k3] }));
    await w.send('cb', JSON.stringify({ type: 'Join', join: [k3, k1] }));
    expect(introductions('ca')).toEqual([{ type: 'Introduction', id: b, keys: [k3, k1] }]);
    expect(introductions('cb')).toEqual([{ type: 'Introduction', id: a, keys: [k3, k1] }]);

    await w.disconnect('ca');
    await w.introduce('cc', c);
    await w.send('cc', JSON.stringify({ type: 'Join', join: [k1, k2] }));
    expect(introductions('cc')).toEqual([{ type: 'Introduction', id: b, keys: [k1] }]);
  });

  it('keeps introducing a reconnected peer on its newer socket after the old one closes late', async () => {
    const key = `doc-${tag()}`;
    const [p, q, r] = ['p', 'q', 'r'].map((x) => `${x}-${tag()}`) as [string, string, string];
    await w.introduce('p-old', p);
    await w.send('p-old', JSON.stringify({ type: 'Join', join: [key] }));
    await w.introduce('p-new', p);
    await w.send('p-new', JSON.stringify({ type: 'Join', join: [key] }));
    await w.disconnect('p-old'); // late: after the new socket took over
    await w.introduce('cq', q);
    await w.send('cq', JSON.stringify({ type: 'Join', join: [key] }));
    await w.introduce('cr', r);
    await w.send('cr', JSON.stringify({ type: 'Join', join: [key] }));
    expect(introductions('p-new').map((message) => message.id)).toEqual([q, r]);
    expect(introductions('p-old')).toEqual([]);
  });

  it('answers bad input with an Error and keeps the socket working', async () => {
    const p = `p-${tag()}`;
    await w.introduce('cp', p);
    await w.send('cp', '{"type":"Join","join":"k"}');
    await w.send('cp', JSON.stringify({ type: 'Join', join: [`k-${tag()}`] }));
    expect(w.sockets.received('cp')).toEqual([
      JSON.stringify({ type: 'Error', error: 'join must be an array of keys' }),
    ]);
    expect((await s.store.peers.getPeer(p))?.keys).toHaveLength(1);
  });

  it('removes the records of an introduction socket that vanished without $disconnect', async () => {
    const key = `doc-${tag()}`;
    const [p, q] = ['p', 'q'].map((x) => `${x}-${tag()}`) as [string, string];
    await w.introduce('cp', p);
    await w.send('cp', JSON.stringify({ type: 'Join', join: [key] }));
    w.sockets.open.delete('cp'); // gone, and its $disconnect never comes
    await w.introduce('cq', q);
    await w.send('cq', JSON.stringify({ type: 'Join', join: [key] }));
    expect(await s.store.connections.getConnection('cp')).toBeUndefined();
    expect(await s.store.peers.getPeer(p)).toBeUndefined();
    expect(await peersIndexedUnder(s.store.peers, key)).toEqual([q]);
  });

  it('delivers frames held before pairing, in order, to a socket that never sends', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    for (let i = 1; i <= 5; i++) await w.send('ra', `frame ${i}`);
    expect(w.sockets.posts).toEqual([]);

    await w.relay('rb', b, a, key);
    await w.deliveries.settled();
    expect(w.sockets.received('rb')).toEqual([1, 2, 3, 4, 5].map((i) => `frame ${i}`));
    expect(await s.store.relays.listHeld('ra')).toEqual([]);

    // The direct path is open now: later frames go straight, both ways.
    await w.send('ra', 'frame 6');
    await w.send('rb', 'reply');
    expect(w.sockets.received('rb')).toHaveLength(6);
    expect(w.sockets.received('rb').at(-1)).toBe('frame 6');
    expect(w.sockets.received('ra')).toEqual(['reply']);
    expect(w.deliveries.jobs).toHaveLength(1);
  });

  it('keeps order when the first socket goes on sending while its held frames are delivered', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    for (let i = 1; i <= 3; i++) await w.send('ra', `frame ${i}`);
    await w.relay('rb', b, a, key);
    // Delivery is running in the background; the sender does not wait for it.
    for (let i = 4; i <= 10; i++) await w.send('ra', `frame ${i}`);
    await w.deliveries.settled();
    expect(w.sockets.received('rb')).toEqual(
      Array.from({ length: 10 }, (_, i) => `frame ${i + 1}`),
    );
  });

  it('pairs without deferred delivery when nothing was held', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    await w.relay('rb', b, a, key);
    await w.send('ra', 'hello');
    expect(w.sockets.received('rb')).toEqual(['hello']);
    expect(w.deliveries.jobs).toEqual([]);
  });

  it('closes the other side when one side leaves, and the second $disconnect is quick', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    await w.relay('rb', b, a, key);
    await w.disconnect('ra');
    expect(w.sockets.closed).toEqual(['rb']);

    // rb's own $disconnect finds ra gone (record removed): no retrying 410 for the grace period.
    const started = Date.now();
    await w.disconnect('rb');
    expect(Date.now() - started).toBeLessThan(PAIRING_GRACE_MS / 10);
    expect(w.sockets.goneAnswers('ra')).toBe(1);
    expect(await s.store.connections.getConnection('ra')).toBeUndefined();
    expect(await s.store.connections.getConnection('rb')).toBeUndefined();
  });

  it('closes a replaced waiting socket, and its late close leaves the successor to be paired', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra1', a, b, key);
    await w.send('ra1', 'from the replaced socket');
    await w.relay('ra2', a, b, key);
    expect(w.sockets.closed).toEqual(['ra1']);
    await w.disconnect('ra1');
    expect(await s.store.relays.listHeld('ra1')).toEqual([]);

    await w.send('ra2', 'from the successor');
    await w.relay('rb', b, a, key);
    await w.deliveries.settled();
    expect(w.sockets.received('rb')).toEqual(['from the successor']);
  });

  it('closes the sender and removes stale records when the peer vanished without $disconnect', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    await w.relay('rb', b, a, key);
    await w.send('ra', 'one');
    w.sockets.open.delete('rb'); // gone, and its $disconnect never comes
    w.advance(PAIRING_GRACE_MS + 1_000); // past the pairing grace: 410 means gone

    await w.send('ra', 'two');

    expect(w.sockets.received('rb')).toEqual(['one']);
    expect(w.sockets.closed).toEqual(['ra']);
    expect(await s.store.connections.getConnection('rb')).toBeUndefined();
    expect(await s.store.connections.getConnection('ra')).toBeDefined(); // until its own $disconnect
    await w.disconnect('ra');
    expect(await s.store.connections.getConnection('ra')).toBeUndefined();
  });

  it('leaves no socket paired with one whose $connect failed; both sides pair afresh', async () => {
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    w.deliveries.failInvoke = 1;
    await expect(
      w.connect('rb', { type: 'connection', localId: b, remoteId: a, key }),
    ).rejects.toThrow('Rate exceeded');
    w.errors.length = 0; // the failure was logged, as it should be

    // The handshake was refused, so no $disconnect comes for rb; ra is closed instead of
    // holding frames for a peer that never opened.
    expect(w.sockets.closed).toEqual(['ra']);
    expect(await s.store.connections.getConnection('rb')).toBeUndefined();
    await w.disconnect('ra');

    await w.relay('ra2', a, b, key);
    await w.relay('rb2', b, a, key);
    await w.send('ra2', 'hello');
    expect(w.sockets.received('rb2')).toEqual(['hello']);
  });

  it('closes a socket whose held frames go over the limit, and its pair never forms', async () => {
    w = world({ limits: { maxHeldFrames: 3 } });
    const [a, b, key] = [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`];
    await w.relay('ra', a, b, key);
    for (let i = 1; i <= 4; i++) await w.send('ra', `frame ${i}`);
    expect(w.sockets.closed).toEqual(['ra']);
    await w.disconnect('ra');
    expect(await s.store.relays.listHeld('ra')).toEqual([]);
    await w.relay('rb', b, a, key);
    await w.deliveries.settled();
    expect(w.sockets.received('rb')).toEqual([]);
  });

  it('closes a socket that sends without a record', async () => {
    await w.send('ghost', 'hello');
    expect(w.sockets.closed).toEqual([]); // it is not open in the world either
    expect(w.sockets.goneAnswers('ghost')).toBe(1);
  });

  it('refuses a bad handshake with 400 and records nothing', async () => {
    expect(
      await w.connect('bad', { type: 'connection', localId: 'a', remoteId: 'a', key: 'k' }),
    ).toBe(400);
    expect(await s.store.connections.getConnection('bad')).toBeUndefined();
  });

  it('used no Scan in any of the flows above', () => {
    expect(commands.length).toBeGreaterThan(100);
    expect(new Set(commands)).not.toContain('ScanCommand');
    expect([...new Set(commands)]).toEqual(
      expect.arrayContaining(['QueryCommand', 'GetItemCommand', 'UpdateItemCommand']),
    );
  });
});

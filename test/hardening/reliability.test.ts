/**
 * Failures a deployer meets, and what each leaves behind, with the real handlers over a real
 * DynamoDB API (test/support/world.ts): a relay post failing past the SDK's retries, a delivery that
 * fails before its claim, a waiting socket that vanished, fan-outs past maxFanOut and large ones,
 * a peer id with many sockets, and records that would outlive every TTL.
 */
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { INTRODUCTION_CONCURRENCY, MESSAGE_FAILED } from '../../lambda/core/introduction.js';
import { SOCKET_IDLE_SECONDS } from '../../lambda/core/limits.js';
import { KEEP_ALIVE_FRAME } from '../../lambda/core/protocol.js';
import { TABLE_SCHEMA } from '../../lambda/core/schema.js';
import { describeEachBackend, type OpenStore } from '../support/dynamodb.js';
import { introductionsOf, worldPerTest, type FreshWorld, type World } from '../support/world.js';
import { recordKeys } from '../../testing/peers.js';

describeEachBackend('reliability', (backend) => {
  let s: OpenStore;
  let w: World;
  let world: FreshWorld['world'];
  worldPerTest(backend, (fresh) => ({ s, w, world } = fresh));

  const tag = () => randomUUID().slice(0, 8);
  const ids = () => [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`] as const;
  const errorsTo = (connectionId: string) =>
    w.sockets
      .received(connectionId)
      .map((data) => JSON.parse(data) as { type: string; error?: string })
      .filter((message) => message.type === 'Error');

  /** A pair ra (a→b) / rb (b→a) whose direct path is open both ways. */
  async function flushedPair() {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    await w.relay('rb', b, a, key);
    await w.settled();
    return { a, b, key };
  }

  /** A new pair on the same ids forms and carries frames both ways. */
  async function pairsAfresh(a: string, b: string, key: string) {
    const [ra, rb] = [`ra-${tag()}`, `rb-${tag()}`];
    await w.relay(ra, a, b, key);
    await w.relay(rb, b, a, key);
    await w.settled();
    await w.send(ra, 'ping');
    await w.send(rb, 'pong');
    expect(w.sockets.received(rb)).toEqual(['ping']);
    expect(w.sockets.received(ra)).toEqual(['pong']);
  }

  describe('a relay frame on the direct path', () => {
    it('is retried when its post fails past the SDK’s retries: every frame arrives once, in order', async () => {
      await flushedPair();
      w.sockets.fail('post', 'throttled', (to, data) => to === 'rb' && data === 'f2');
      for (const frame of ['f1', 'f2', 'f3']) await w.send('ra', frame);
      expect(w.sockets.received('rb')).toEqual(['f1', 'f2', 'f3']);
      expect(w.sockets.closed).toEqual([]);
    });

    it('closes both sockets, never throwing to API Gateway, when its post keeps failing', async () => {
      const { a, b, key } = await flushedPair();
      w.sockets.fail('post', 'throttled', (to, data) => to === 'rb' && data === 'f2', 1_000);
      // Each failure costs the invocation a second of its budget.
      w.sockets.beforeCall = (op, to, data) => {
        if (op === 'post' && to === 'rb' && data === 'f2') w.advance(1_000);
      };
      await w.send('ra', 'f1');
      await w.send('ra', 'f2'); // resolves: API Gateway writes no internal-error frame
      expect(w.sockets.received('rb')).toEqual(['f1']);
      expect(w.sockets.closed.sort()).toEqual(['ra', 'rb']);
      expect(w.sockets.received('ra')).toEqual([]); // nothing foreign in the sender's stream
      w.sockets.beforeCall = undefined;
      await Promise.all([w.disconnect('ra'), w.disconnect('rb')]);
      await pairsAfresh(a, b, key);
    });

    it('closes the sender, never throwing, when a frame cannot be held', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      w.faults.add({
        command: 'UpdateItemCommand',
        match: (input) => input.includes('ADD seq'),
        times: 1_000,
        onFault: () => w.advance(1_000),
      });
      await w.send('ra', 'f1');
      expect(w.sockets.closed).toEqual(['ra']);
      w.faults.clear();
      await w.disconnect('ra');
      await pairsAfresh(a, b, key);
    });
  });

  describe('an introduction message that fails', () => {
    it('is retried within the route’s budget: a failure that passes costs nothing', async () => {
      const [a, b, key] = ids();
      await w.introduce('ca', a);
      await w.introduce('cb', b);
      await w.join('ca', key);
      w.faults.add({ command: 'BatchWriteItemCommand', fault: 'server error' });
      await w.join('cb', key);
      expect(errorsTo('cb')).toEqual([]);
      expect(introductionsOf(w, 'cb')).toEqual([{ type: 'Introduction', id: a, keys: [key] }]);
      expect(w.sockets.closed).toEqual([]);
    });

    it('past the budget is answered with an Error frame and its socket closed, never API Gateway’s internal-error frame', async () => {
      const peer = `p-${tag()}`;
      await w.introduce('cp', peer);
      w.faults.add({
        command: 'BatchWriteItemCommand',
        fault: 'server error',
        times: 1_000,
        onFault: () => w.advance(1_000),
      });
      await w.join('cp', `doc-${tag()}`);
      expect(errorsTo('cp')).toEqual([{ type: 'Error', error: MESSAGE_FAILED }]);
      // cevitxe-signal-client ignores the Error frame; the close makes it reconnect and rejoin.
      expect(w.sockets.closed).toEqual(['cp']);
    });
  });

  describe('a delivery of held frames', () => {
    async function heldThenPaired() {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      for (const frame of ['f1', 'f2', 'f3']) await w.send('ra', frame);
      await w.relay('rb', b, a, key);
      return { a, b, key };
    }

    it('retries by itself when DynamoDB fails before its claim, within the same invocation', async () => {
      w.faults.add({ command: 'QueryCommand', match: (input) => input.includes('"H#'), times: 2 });
      await heldThenPaired();
      await w.settled();
      expect(w.faults.pending()).toEqual([]);
      expect(w.deliveries.failures).toEqual([]);
      await w.send('ra', 'f4');
      expect(w.sockets.received('rb')).toEqual(['f1', 'f2', 'f3', 'f4']);
      expect(w.sockets.closed).toEqual([]);
    });

    it('closes the pair when DynamoDB keeps failing before its claim', async () => {
      w.faults.add({
        command: 'QueryCommand',
        match: (input) => input.includes('"H#'),
        times: 1_000,
        onFault: () => w.advance(3_000),
      });
      const { a, b, key } = await heldThenPaired();
      await w.settled();
      // The first invocation closed both sockets: no direction stays stalled until a retry.
      expect(w.sockets.closed.sort()).toEqual(['ra', 'rb']);
      w.faults.clear();
      await Promise.all([w.disconnect('ra'), w.disconnect('rb')]);
      expect(await s.store.relays.listHeld('ra')).toEqual([]);
      await pairsAfresh(a, b, key);
    });
  });

  describe('pairing', () => {
    it('takes the place of a waiting socket that vanished without $disconnect', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      w.sockets.open.delete('ra'); // vanished; its $disconnect never comes
      w.advance(PAIRING_GRACE_MS); // and its $connect returned long ago
      await w.relay('rb', b, a, key);
      expect(await s.store.connections.getConnection('ra')).toBeUndefined();
      // a's client reconnects: its new socket pairs with rb, which was waiting in ra's place.
      await w.relay('ra2', a, b, key);
      await w.settled();
      await w.send('ra2', 'ping');
      await w.send('rb', 'pong');
      expect(w.sockets.received('rb')).toEqual(['ping']);
      expect(w.sockets.received('ra2')).toEqual(['pong']);
      expect(w.sockets.closed).toEqual([]);
    });

    it('pairs as before when the check itself fails', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      w.sockets.fail('get', 'throttled');
      await w.relay('rb', b, a, key);
      await w.settled();
      await w.send('ra', 'ping');
      expect(w.sockets.received('rb')).toEqual(['ping']);
    });
  });

  describe('fan-out', () => {
    it('past maxFanOut introduces each joiner to the peers that joined most recently', async () => {
      const fan = world({ limits: { maxFanOut: 3 } });
      const key = `doc-${tag()}`;
      const peers = Array.from({ length: 7 }, (_, i) => `p${i + 1}-${tag()}`);
      for (const peer of peers) {
        await fan.introduce(`c-${peer}`, peer);
        await fan.join(`c-${peer}`, key);
      }
      const met = (i: number) =>
        introductionsOf(fan, `c-${peers[i]}`)
          .map((message) => peers.indexOf(message.id) + 1)
          .sort();
      // p_i meets the 3 that joined before it and the 3 that join after it: a connected chain.
      expect(peers.map((_, i) => met(i))).toEqual([
        [2, 3, 4],
        [1, 3, 4, 5],
        [1, 2, 4, 5, 6],
        [1, 2, 3, 5, 6, 7],
        [2, 3, 4, 6, 7],
        [3, 4, 5, 7],
        [4, 5, 6],
      ]);
      const errors = fan.sockets
        .received(`c-${peers[4]}`)
        .map((data) => JSON.parse(data) as { type: string; error?: string })
        .filter((message) => message.type === 'Error');
      expect(errors).toEqual([
        {
          type: 'Error',
          error:
            'more than 3 peers share these keys: introduced the 3 that joined them most ' +
            'recently; peers that join them later are introduced to this one in turn',
        },
      ]);
    });

    it(`posts introductions ${INTRODUCTION_CONCURRENCY} at a time, never more`, async () => {
      const key = `doc-${tag()}`;
      const count = INTRODUCTION_CONCURRENCY * 2;
      const peers = Array.from({ length: count }, (_, i) => `p${i}-${tag()}`);
      // Peers that joined earlier, recorded directly: joining each through the handlers would
      // make count² introductions.
      for (const peer of peers) {
        await w.store.connections.putConnection({
          kind: 'introduction',
          connectionId: `c-${peer}`,
          peerId: peer,
          connectedAt: Date.now(),
        });
        await w.store.peers.registerSocket(peer, `c-${peer}`);
        await recordKeys(w.store.peers, peer, [key]);
        w.sockets.open.add(`c-${peer}`);
      }
      let inFlight = 0;
      let most = 0;
      w.sockets.delay = (op) => {
        if (op !== 'post') return undefined;
        most = Math.max(most, ++inFlight);
        return new Promise<void>((done) => setTimeout(done, 5)).then(() => {
          inFlight--;
        });
      };
      await w.introduce('c-joiner', `joiner-${tag()}`);
      await w.join('c-joiner', key);
      expect(introductionsOf(w, 'c-joiner')).toHaveLength(count);
      expect(most).toBe(INTRODUCTION_CONCURRENCY);
    });
  });

  it('bounds the sockets of a peer id: an active socket is never closed for a newcomer, which is refused with 429', async () => {
    const bounded = world({ limits: { maxSocketsPerPeer: 3 } });
    const peer = `p-${tag()}`;
    for (const socket of ['c1', 'c2', 'c3']) await bounded.introduce(socket, peer);
    // An impostor opening sockets under the id closes nobody: the newcomer is refused.
    expect(await bounded.connect('c4', { type: 'introduction', localId: peer })).toBe(429);
    expect(bounded.sockets.closed).toEqual([]);
    expect((await s.store.peers.getPeer(peer))?.sockets.sort()).toEqual(['c1', 'c2', 'c3']);
    expect(await s.store.connections.getConnection('c4')).toBeUndefined();
  });

  it('bounds the sockets of a peer id: a socket gone or idle past the keep-alive window makes room', async () => {
    const bounded = world({ limits: { maxSocketsPerPeer: 3 } });
    const peer = `p-${tag()}`;
    for (const socket of ['c1', 'c2', 'c3']) await bounded.introduce(socket, peer);
    // Past the window, c2 and c3 keep alive; c1 stays silent.
    bounded.advance((SOCKET_IDLE_SECONDS + 60) * 1000);
    for (const socket of ['c2', 'c3']) await bounded.send(socket, KEEP_ALIVE_FRAME);
    await bounded.introduce('c4', peer);
    expect(bounded.sockets.closed).toEqual(['c1']);
    const record = await s.store.peers.getPeer(peer);
    expect(record?.sockets.sort()).toEqual(['c2', 'c3', 'c4']);
    expect(record?.current).toBe('c4');
    // Its $disconnect comes later and changes nothing.
    await bounded.disconnect('c1');
    expect((await s.store.peers.getPeer(peer))?.sockets.sort()).toEqual(['c2', 'c3', 'c4']);
    // c2 vanished without a $disconnect (API Gateway answers 410): it makes room, unclosed.
    bounded.sockets.open.delete('c2');
    bounded.advance(PAIRING_GRACE_MS);
    await bounded.introduce('c5', peer);
    expect(bounded.sockets.closed).toEqual(['c1']);
    expect((await s.store.peers.getPeer(peer))?.sockets.sort()).toEqual(['c3', 'c4', 'c5']);
    expect(await s.store.connections.getConnection('c2')).toBeUndefined();
  });

  it('leaves no item without a TTL after churn, a claim racing a $disconnect included', async () => {
    const [a, b, key] = ids();
    // A socket disconnects between the deliverer's read and its claim.
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    w.faults.add({
      command: 'UpdateItemCommand',
      match: (input) => input.includes('claimedAt'),
      pause: () => Promise.all([w.disconnect('ra'), w.disconnect('rb')]).then(() => undefined),
    });
    await w.relay('rb', b, a, key);
    await w.settled();
    // Churn: introductions, joins, leaves, pairs, held and direct frames, closes.
    for (let round = 0; round < 3; round++) {
      const [p, q, doc] = ids();
      await w.introduce(`cp${round}`, p);
      await w.introduce(`cq${round}`, q);
      await w.join(`cp${round}`, doc, `${doc}-2`);
      await w.join(`cq${round}`, doc);
      await w.leave(`cp${round}`, `${doc}-2`);
      await w.relay(`rp${round}`, p, q, doc);
      await w.send(`rp${round}`, 'early');
      await w.relay(`rq${round}`, q, p, doc);
      await w.settled();
      await w.send(`rq${round}`, 'late');
      if (round !== 1) {
        await w.disconnect(`rp${round}`);
        await w.disconnect(`cp${round}`);
      }
    }
    await w.settled();
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      // A Scan in a test only: the product reads by key.
      const page = await s.db.send(
        new ScanCommand({ TableName: s.tableName, ExclusiveStartKey: start, ConsistentRead: true }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    expect(items.length).toBeGreaterThan(0);
    const untimed = items.filter(
      (item) => typeof item[TABLE_SCHEMA.timeToLiveAttribute] !== 'number',
    );
    expect(untimed).toEqual([]);
  });
});

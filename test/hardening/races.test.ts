/**
 * Races, with the real handlers over a real DynamoDB API (dynalite and DynamoDB Local): both
 * sides of a pair connecting at once (hundreds of times), a peer id reconnecting while its old
 * $disconnect is late or never comes, $disconnects that never arrive (410 and TTL), a message for
 * a socket that is not ready yet, and concurrent Joins and Leaves for one key.
 *
 * test/store/relay.test.ts races the rendezvous itself (store.meet); these race whole $connect,
 * message and $disconnect invocations, and check what the clients receive.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { MAX_CONNECTION_SECONDS, TTL_MARGIN_SECONDS } from '../../lambda/core/limits.js';
import { mapLimit } from '../../lambda/core/util.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';
import { random, seedFrom } from '../../testing/random.js';
import { MemorySockets } from '../../testing/sockets.js';
import { introductionsOf, openWorld, type World } from '../support/world.js';
import { peersIndexedUnder } from '../../testing/peers.js';

/** A moment when every record written now has expired (its TTL passed), though TTL is lazy. */
const pastExpiry = () => Date.now() + (MAX_CONNECTION_SECONDS + TTL_MARGIN_SECONDS + 60) * 1000;

const SEED = seedFrom('RACE_SEED');

describeEachBackend('races', (backend) => {
  let s: OpenStore;
  let w: World;
  beforeAll(async () => {
    s = await openStore(backend);
  });
  afterAll(() => s?.close());
  /** Connection ids unique to the test: the table is shared by the file's tests. */
  let c: (label: string) => string;
  beforeEach(() => {
    w = openWorld(s);
    const run = randomUUID().slice(0, 8);
    c = (label) => `${label}-${run}`;
  });
  afterEach(async () => {
    await w.settled();
    // Every read the handlers made was strongly consistent: a record written by a $connect
    // that returned is visible to every later invocation.
    expect(w.faults.eventualReads).toEqual([]);
    w.close();
  });

  const tag = () => randomUUID().slice(0, 8);
  const ids = () => [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`] as const;

  it('pairs exactly once when both sides connect at the same moment (200 times); frames pass once', async () => {
    const failures = await mapLimit(
      Array.from({ length: 200 }, (_, i) => i),
      20,
      async () => {
        const [a, b, key] = ids();
        const [ra, rb] = [`ra-${tag()}`, `rb-${tag()}`];
        await Promise.all([w.relay(ra, a, b, key), w.relay(rb, b, a, key)]);
        const [x, y] = await Promise.all([
          s.store.connections.getConnection(ra),
          s.store.connections.getConnection(rb),
        ]);
        await w.send(ra, `from ${ra}`);
        await w.send(rb, `from ${rb}`);
        const problems = [];
        if (x?.kind !== 'relay' || x.peer !== rb) problems.push(`${ra} not paired with ${rb}`);
        if (y?.kind !== 'relay' || y.peer !== ra) problems.push(`${rb} not paired with ${ra}`);
        if (w.sockets.received(rb).join() !== `from ${ra}`) problems.push(`${rb} got wrong frames`);
        if (w.sockets.received(ra).join() !== `from ${rb}`) problems.push(`${ra} got wrong frames`);
        return problems;
      },
    );
    expect(failures.flat()).toEqual([]);
    expect(w.sockets.closed).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it('delivers every frame once, in order, when one side sends while the other connects (100 times)', async () => {
    const results = await mapLimit(
      Array.from({ length: 100 }, (_, i) => i),
      10,
      async () => {
        const [a, b, key] = ids();
        const [ra, rb] = [`ra-${tag()}`, `rb-${tag()}`];
        await w.relay(ra, a, b, key);
        const frames = ['1', '2', '3', '4'];
        const sending = (async () => {
          // One after another, as a client's frames arrive when the network keeps them apart.
          for (const frame of frames) await w.send(ra, frame);
        })();
        await Promise.all([sending, w.relay(rb, b, a, key)]);
        await w.settled();
        await w.send(ra, '5');
        return w.sockets.received(rb).join('');
      },
    );
    expect(results.filter((got) => got !== '12345')).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it('makes one pairing when two sockets of one side and the other side race (100 times)', async () => {
    const outcomes = await mapLimit(
      Array.from({ length: 100 }, (_, i) => i),
      10,
      async () => {
        const [a, b, key] = ids();
        const [a1, a2, rb] = [`a1-${tag()}`, `a2-${tag()}`, `rb-${tag()}`];
        await Promise.all([w.relay(a1, a, b, key), w.relay(a2, a, b, key), w.relay(rb, b, a, key)]);
        const [x1, x2, y] = await Promise.all(
          [a1, a2, rb].map((id) => s.store.connections.getConnection(id)),
        );
        const problems: string[] = [];
        const partner = y?.kind === 'relay' ? y.peer : undefined;
        if (partner !== a1 && partner !== a2) problems.push('the b side is not paired');
        const [paired, other, otherRecord] =
          partner === a1 ? [x1, a2, x2] : ([x2, a1, x1] as const);
        if (paired?.kind !== 'relay' || paired.peer !== rb) problems.push('pairing is one-sided');
        // The other a-side socket was replaced (closed) or waits, unpaired, for a new b side.
        const closed = w.sockets.closed.includes(other);
        if (!closed && (otherRecord?.kind !== 'relay' || otherRecord.peer !== undefined))
          problems.push('the other socket is paired too');
        if (!closed) {
          const rb2 = `rb2-${tag()}`;
          await w.relay(rb2, b, a, key);
          await w.send(rb2, 'to the waiting one');
          if (w.sockets.received(other).join() !== 'to the waiting one')
            problems.push('the waiting socket never pairs');
        }
        return problems;
      },
    );
    expect(outcomes.flat()).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it('keeps a reconnecting peer id registered on its new socket when the old $disconnect races it (100 times)', async () => {
    const problems = await mapLimit(
      Array.from({ length: 100 }, (_, i) => i),
      10,
      async () => {
        const [p, q, key] = ids();
        const [p1, p2, cq] = [`p1-${tag()}`, `p2-${tag()}`, `q-${tag()}`];
        await w.introduce(p1, p);
        await w.join(p1, key);
        // The old socket's $disconnect comes late: at the same moment as the new socket.
        await Promise.all([w.introduce(p2, p), w.disconnect(p1)]);
        const peer = await s.store.peers.getPeer(p);
        const found: string[] = [];
        if (peer?.current !== p2 || peer.sockets.join() !== p2) found.push(`${p} not on ${p2}`);
        // Its client joins its keys again on open (they may have been forgotten meanwhile).
        await w.join(p2, key);
        await w.introduce(cq, q);
        await w.join(cq, key);
        if (JSON.stringify(introductionsOf(w, cq)) !== JSON.stringify([intro(p, [key])]))
          found.push(`${q} not introduced to ${p}`);
        if (JSON.stringify(introductionsOf(w, p2)) !== JSON.stringify([intro(q, [key])]))
          found.push(`${p2} not introduced to ${q}`);
        if (w.sockets.received(p1).length > 0) found.push(`${p1} got frames after closing`);
        return found;
      },
    );
    expect(problems.flat()).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  const intro = (id: string, keys: string[]) => ({ type: 'Introduction', id, keys });

  it('forgets a reconnected peer id whose old socket never got its $disconnect, at its first 410', async () => {
    const [p, q, key] = ids();
    const r = `r-${tag()}`;
    await w.introduce(c('p1'), p);
    await w.join(c('p1'), key);
    w.sockets.open.delete(c('p1')); // vanished: its $disconnect never comes
    w.advance(PAIRING_GRACE_MS); // long after its $connect
    await w.introduce(c('p2'), p);
    await w.disconnect(c('p2')); // the newer socket closes normally
    expect((await s.store.peers.getPeer(p))?.current).toBe(c('p1')); // introductions would go to p1

    await w.introduce(c('cq'), q);
    await w.join(c('cq'), key);
    // p1 answered 410: its records are gone, P is forgotten, and Q is not introduced to a ghost.
    expect(introductionsOf(w, c('cq'))).toEqual([]);
    expect(await s.store.connections.getConnection(c('p1'))).toBeUndefined();
    expect(await s.store.peers.getPeer(p)).toBeUndefined();

    await w.introduce(c('p3'), p);
    await w.join(c('p3'), key);
    await w.introduce(c('cr'), r);
    await w.join(c('cr'), key);
    expect(introductionsOf(w, c('cq'))).toEqual([intro(p, [key]), intro(r, [key])]);
    expect(introductionsOf(w, c('p3'))).toEqual([intro(q, [key]), intro(r, [key])]);
    expect(w.errors).toEqual([]);
  });

  it('introduces a peer id’s newer socket still inside its $connect, never taking it for gone', async () => {
    const [p, q, key] = ids();
    await w.introduce(c('p1'), p);
    await w.join(c('p1'), key);
    // The same peer id reconnects: its $connect made p2 current but has not returned yet.
    expect(await w.connectOnly(c('p2'), { type: 'introduction', localId: p })).toBe(200);
    let attempts = 0;
    w.sockets.beforeCall = (op, to) => {
      if (op === 'post' && to === c('p2') && ++attempts === 3) w.sockets.open.add(c('p2'));
    };
    await w.introduce(c('cq'), q);
    await w.join(c('cq'), key);
    expect(introductionsOf(w, c('p2'))).toEqual([intro(q, [key])]);
    expect(introductionsOf(w, c('cq'))).toEqual([intro(p, [key])]);
    // p2 was not dropped: it keeps working.
    expect(await s.store.connections.getConnection(c('p2'))).toBeDefined();
    await w.join(c('p2'), `${key}-more`);
    expect(w.sockets.closed).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it('closes a relay socket whose peer reconnected without a $disconnect, so the new pair forms', async () => {
    const [a, b, key] = ids();
    await w.relay(c('ra1'), a, b, key);
    await w.relay(c('rb1'), b, a, key);
    w.sockets.open.delete(c('ra1')); // a's network dropped: no $disconnect
    w.advance(PAIRING_GRACE_MS);
    await w.relay(c('ra2'), a, b, key); // a reconnects and waits
    await w.send(c('rb1'), 'still there?');
    // rb1's peer answered 410: rb1 is closed and ra1's records removed.
    expect(w.sockets.closed).toEqual([c('rb1')]);
    expect(await s.store.connections.getConnection(c('ra1'))).toBeUndefined();
    await w.disconnect(c('rb1'));
    await w.relay(c('rb2'), b, a, key);
    await w.send(c('rb2'), 'hello again');
    expect(w.sockets.received(c('ra2'))).toEqual(['hello again']);
    expect(w.errors).toEqual([]);
  });

  it('lets a late $disconnect of a replaced relay socket close only its own peer', async () => {
    const [a, b, key] = ids();
    await w.relay(c('ra1'), a, b, key);
    await w.relay(c('rb1'), b, a, key);
    w.sockets.open.delete(c('ra1'));
    await w.relay(c('ra2'), a, b, key); // waits: the old pair used up the rendezvous
    await w.disconnect(c('ra1')); // late
    expect(w.sockets.closed).toEqual([c('rb1')]);
    await w.disconnect(c('rb1'));
    await w.relay(c('rb2'), b, a, key);
    await w.send(c('ra2'), 'paired');
    expect(w.sockets.received(c('rb2'))).toEqual(['paired']);
  });

  it('ignores the records of sockets whose $disconnect never came, once expired', async () => {
    const [p, q, key] = ids();
    const [a, b, doc] = ids();
    await w.introduce(c('p1'), p);
    await w.join(c('p1'), key);
    await w.relay(c('ra1'), a, b, doc);
    await w.send(c('ra1'), 'from a socket long gone');
    // Two hours and more later: none of them ever got a $disconnect. TTL deletion is lazy, so
    // the items are still in the table; every reader must treat them as gone.
    const later = openWorld(s, { storeClock: pastExpiry, sockets: new MemorySockets() });
    try {
      await later.introduce(c('cq'), q);
      await later.join(c('cq'), key);
      expect(later.sockets.calls.filter((call) => call.to === c('p1'))).toEqual([]);
      expect(introductionsOf(later, c('cq'))).toEqual([]);

      // The same peer id starts afresh, without the expired keys.
      await later.introduce(c('p2'), p);
      expect((await later.store.peers.getPeer(p))?.keys).toEqual([]);
      await later.join(c('p2'), key);
      expect(introductionsOf(later, c('cq'))).toEqual([intro(p, [key])]);

      // A relay socket never pairs with an expired one, nor gets its held frames.
      await later.relay(c('rb'), b, a, doc);
      expect(await later.store.connections.getConnection(c('rb'))).not.toHaveProperty('peer');
      await later.relay(c('ra2'), a, b, doc);
      await later.settled();
      await later.send(c('ra2'), 'fresh');
      expect(later.sockets.received(c('rb'))).toEqual(['fresh']);
      expect(later.errors).toEqual([]);
    } finally {
      await later.settled();
      later.close();
    }
  });

  it('closes a socket that sends without a record, and the pair beside it carries on', async () => {
    const [a, b, key] = ids();
    await w.relay(c('ra'), a, b, key);
    await w.relay(c('rb'), b, a, key);
    w.sockets.open.add(c('ghost'));
    await w.send(c('ghost'), 'who am I?');
    expect(w.sockets.closed).toEqual([c('ghost')]);
    await w.send(c('ra'), 'fine');
    expect(w.sockets.received(c('rb'))).toEqual(['fine']);
  });

  it('registers an introduction socket again when its peer record vanished', async () => {
    const [p, q, key] = ids();
    await w.introduce(c('cp'), p);
    await s.db.send(new DeleteCommand({ TableName: s.tableName, Key: { pk: `P#${p}`, sk: 'P' } }));
    await w.join(c('cp'), key);
    await w.introduce(c('cq'), q);
    await w.join(c('cq'), key);
    expect(introductionsOf(w, c('cp'))).toEqual([intro(q, [key])]);
  });

  it(`introduces every pair that ends up sharing a key, whatever the order of concurrent Joins and Leaves (seed ${SEED})`, async () => {
    const rng = random(SEED);
    const keys = [`k1-${tag()}`, `k2-${tag()}`];
    const peers = Array.from({ length: 12 }, (_, i) => `p${i}-${tag()}`);
    for (const peer of peers) await w.introduce(`c-${peer}`, peer);
    // Each peer sends a few Joins and Leaves at once, as API Gateway may run them concurrently;
    // all peers at the same time.
    await Promise.all(
      peers.map((peer) =>
        Promise.all(
          Array.from({ length: rng.between(1, 4) }, () => {
            const change = rng.chance(0.65)
              ? { type: 'Join', join: rng.shuffle(keys).slice(0, rng.between(1, 2)) }
              : { type: 'Leave', leave: [rng.pick(keys)] };
            return w.send(`c-${peer}`, JSON.stringify(change));
          }),
        ),
      ),
    );
    const finals = new Map<string, string[]>();
    for (const peer of peers) finals.set(peer, (await s.store.peers.getPeer(peer))?.keys ?? []);
    const missing: string[] = [];
    for (const p of peers)
      for (const q of peers) {
        if (p === q) continue;
        for (const key of finals.get(p)!.filter((k) => finals.get(q)!.includes(k)))
          if (!introductionsOf(w, `c-${p}`).some((m) => m.id === q && m.keys.includes(key)))
            missing.push(`${p} never introduced to ${q} over ${key}`);
      }
    expect(missing, `seed ${SEED}`).toEqual([]);
    // Every final holder of a key is found under it.
    for (const key of keys) {
      const indexed = await peersIndexedUnder(s.store.peers, key);
      const holders = peers.filter((peer) => finals.get(peer)!.includes(key));
      expect(indexed).toEqual(expect.arrayContaining(holders));
    }
    expect(w.errors).toEqual([]);
  });
});

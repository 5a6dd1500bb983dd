/**
 * The store's connection records and introduction peers against a real DynamoDB API.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { MAX_CONNECTION_SECONDS, TTL_MARGIN_SECONDS } from '../../lambda/core/limits.js';
import type { SignalStore } from '../../lambda/core/store.js';
import { describeEachBackend, storePerBlock, type OpenStore } from '../support/dynamodb.js';
import { peersIndexedUnder, recordKeys } from '../../testing/peers.js';

/** A clock past every record written now: they all look expired (TTL deletion is lazy). */
const pastExpiry = () => Date.now() + (MAX_CONNECTION_SECONDS + TTL_MARGIN_SECONDS + 60) * 1000;

describeEachBackend('store: connections and peers', (backend) => {
  let s: OpenStore;
  let store: SignalStore;
  storePerBlock(backend, (opened) => {
    s = opened;
    store = opened.store;
  });
  const id = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

  it('records a socket once: a duplicate $connect changes nothing', async () => {
    const c = id('c');
    await store.connections.putConnection({
      kind: 'introduction',
      connectionId: c,
      peerId: 'A',
      connectedAt: 1,
    });
    await store.connections.putConnection({
      kind: 'introduction',
      connectionId: c,
      peerId: 'B',
      connectedAt: 2,
    });
    expect(await store.connections.getConnection(c)).toMatchObject({
      kind: 'introduction',
      peerId: 'A',
      connectedAt: 1,
    });
  });

  it('removes a socket’s record once, returning what it was', async () => {
    const c = id('c');
    await store.connections.putConnection({
      kind: 'relay',
      connectionId: c,
      localId: 'a',
      remoteId: 'b',
      key: 'k',
      connectedAt: 1,
    });
    expect(await store.connections.removeConnection(c)).toMatchObject({
      kind: 'relay',
      localId: 'a',
      remoteId: 'b',
      key: 'k',
    });
    expect(await store.connections.removeConnection(c)).toBeUndefined();
    expect(await store.connections.getConnection(c)).toBeUndefined();
  });

  it('ignores an expired connection record', async () => {
    const c = id('c');
    await store.connections.putConnection({
      kind: 'introduction',
      connectionId: c,
      peerId: 'A',
      connectedAt: 1,
    });
    expect(await s.withClock(pastExpiry).connections.getConnection(c)).toBeUndefined();
  });

  it('makes a newer socket the current one and keeps the peer’s keys', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 'old');
    await recordKeys(store.peers, peer, ['k1', 'k2']);
    await store.peers.registerSocket(peer, 'new');
    expect(await store.peers.getPeer(peer)).toEqual({
      peerId: peer,
      current: 'new',
      sockets: expect.arrayContaining(['old', 'new']) as unknown,
      session: 'old',
      keys: ['k1', 'k2'],
      version: 1,
      introducedSockets: [],
    });
  });

  it('never unregisters the newer socket on a late disconnect of the old one', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 'old');
    await recordKeys(store.peers, peer, ['k']);
    await store.peers.registerSocket(peer, 'new');

    expect(await store.peers.unregisterSocket(peer, 'old')).toBeUndefined();
    expect(await store.peers.unregisterSocket(peer, 'old')).toBeUndefined(); // duplicate
    expect(await store.peers.getPeer(peer)).toMatchObject({
      current: 'new',
      sockets: ['new'],
      keys: ['k'],
    });
    expect(await peersIndexedUnder(store.peers, 'k')).toContain(peer);
  });

  it('forgets the keys and their index entries when the last socket closes', async () => {
    const peer = id('P');
    const other = id('Q');
    const key = id('k');
    await store.peers.registerSocket(peer, 'c1');
    await store.peers.registerSocket(other, 'c2');
    await recordKeys(store.peers, peer, [key, 'x']);
    await recordKeys(store.peers, other, [key]);

    expect(await store.peers.unregisterSocket(peer, 'c1')).toEqual([key, 'x']);
    expect(await store.peers.getPeer(peer)).toBeUndefined();
    expect(await peersIndexedUnder(store.peers, key)).toEqual([other]);
  });

  it('records an introducing Join in the key-set write, and forgets a socket’s mark when it leaves', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 's1');
    await store.peers.registerSocket(peer, 's2');
    const read = await store.peers.getPeer(peer);
    expect(read).toMatchObject({ introducedSockets: [] });
    expect(read?.reintroducedAt).toBeUndefined();
    const written = await store.peers.setKeys(read!, ['k'], {
      socket: 's1',
      at: 1_000,
      by: 'join-1',
    });
    const stored = await store.peers.getPeer(peer);
    expect(stored).toEqual(written);
    expect(stored).toMatchObject({
      keys: ['k'],
      introducedSockets: ['s1'],
      reintroducedAt: 1_000,
      reintroducedBy: 'join-1',
    });
    // A write that does not introduce leaves the budget as it was.
    await store.peers.setKeys(stored!, ['k', 'j']);
    expect(await store.peers.getPeer(peer)).toMatchObject({
      introducedSockets: ['s1'],
      reintroducedAt: 1_000,
    });
    await store.peers.unregisterSocket(peer, 's1');
    expect(await store.peers.getPeer(peer)).toMatchObject({
      sockets: ['s2'],
      introducedSockets: [],
    });
  });

  it('sends introductions to an older open socket when the newest closes first', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 'first');
    await store.peers.registerSocket(peer, 'second');
    expect(await store.peers.unregisterSocket(peer, 'second')).toBeUndefined();
    expect(await store.peers.getPeer(peer)).toMatchObject({ current: 'first', sockets: ['first'] });
  });

  it('keeps a peer whose new socket registers while its last socket leaves, its index matching its keys', async () => {
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        const peer = id('P');
        await store.peers.registerSocket(peer, 's1');
        await recordKeys(store.peers, peer, ['k']);
        await Promise.all([
          store.peers.unregisterSocket(peer, 's1'),
          store.peers.registerSocket(peer, 's2'),
        ]);
        const after = await store.peers.getPeer(peer);
        expect(after).toMatchObject({ current: 's2', sockets: ['s2'] });
        // Whichever way the race went, every key the peer keeps is still indexed.
        if (after!.keys.includes('k'))
          expect(await peersIndexedUnder(store.peers, 'k')).toContain(peer);
      }),
    );
  });

  it('starts an expired peer afresh instead of reviving its keys', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 'old');
    await recordKeys(store.peers, peer, ['k']);
    const old = await store.peers.getPeer(peer);
    await store.peers.setKeys(old!, ['k'], { socket: 'old', at: 1, by: 'join-1' });
    const later = s.withClock(pastExpiry);
    expect(await later.peers.getPeer(peer)).toBeUndefined();
    await later.peers.registerSocket(peer, 'new');
    // Nor its re-introduction budget.
    expect(await later.peers.getPeer(peer)).toEqual({
      peerId: peer,
      current: 'new',
      sockets: ['new'],
      session: 'new',
      keys: [],
      version: 0,
      introducedSockets: [],
    });
  });

  it('writes a key set only over the version read: of two changes from one read, one wins', async () => {
    const peer = id('P');
    await store.peers.registerSocket(peer, 'c');
    const read = await recordKeys(store.peers, peer, ['a']);
    const results = await Promise.all([
      store.peers.setKeys(read, ['a', 'x']),
      store.peers.setKeys(read, ['a', 'y']),
    ]);
    const won = results.filter((result) => result !== undefined);
    expect(won).toHaveLength(1);
    expect(await store.peers.getPeer(peer)).toMatchObject({
      keys: won[0]!.keys,
      version: read.version + 1,
    });
    // A change from a stale read writes nothing.
    expect(await store.peers.setKeys(read, ['z'])).toBeUndefined();
    expect((await store.peers.getPeer(peer))!.keys).toEqual(won[0]!.keys);
  });

  it('finds the peers indexed under a key, most recent first, skipping expired entries', async () => {
    const key = id('k');
    const peers = Array.from({ length: 5 }, (_, i) => `P${i}-${key}`);
    for (const peer of peers) await store.peers.indexKeys(peer, 's', [key]);
    expect([...(await peersIndexedUnder(store.peers, key))].sort()).toEqual(peers);
    expect(await peersIndexedUnder(s.withClock(pastExpiry).peers, key)).toEqual([]);
  });

  it('reads many peers at once, skipping missing and expired ones', async () => {
    const peers = Array.from({ length: 130 }, (_, i) => id(`P${i}`));
    await Promise.all(peers.map((peer) => store.peers.registerSocket(peer, `c-${peer}`)));
    const found = await store.peers.getPeers([...peers, id('missing')]);
    expect(found.map((peer) => peer.peerId).sort()).toEqual([...peers].sort());
    expect(found[0]).toMatchObject({ sockets: [`c-${found[0]!.peerId}`], keys: [] });
    expect(await s.withClock(pastExpiry).peers.getPeers(peers.slice(0, 3))).toEqual([]);
  });
  it('removes the index entry of a key left, but never one a later Join wrote', async () => {
    const peer = id('P');
    const key = id('k');
    await store.peers.indexKeys(peer, 's1', [key], 3);
    // A Leave at version 5 removes the entry joined at version 3.
    await store.peers.unindexKeys(peer, 's1', [key], 5);
    expect(await peersIndexedUnder(store.peers, key)).toEqual([]);
    // A Join handled after the Leave (version 7) survives the Leave's late cleanup (version 6).
    await store.peers.indexKeys(peer, 's1', [key], 7);
    await store.peers.unindexKeys(peer, 's1', [key], 6);
    expect(await peersIndexedUnder(store.peers, key)).toEqual([peer]);
    // An entry from an older session is stale whatever its version.
    await store.peers.unindexKeys(peer, 's2', [key], 0);
    expect(await peersIndexedUnder(store.peers, key)).toEqual([]);
  });
});

/**
 * The store's relay pairs (rendezvous) and held frames against a real DynamoDB API.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  MAX_CONNECTION_SECONDS,
  PAIRED_HOLD_FACTOR,
  TTL_MARGIN_SECONDS,
} from '../../lambda/core/limits.js';
import type { RelayIdentity, SignalStore } from '../../lambda/core/store.js';
import { mapLimit } from '../../lambda/core/util.js';
import { describeEachBackend, storePerBlock, type OpenStore } from '../support/dynamodb.js';
import { holdFrame } from '../../testing/relays.js';

const pastExpiry = () => Date.now() + (MAX_CONNECTION_SECONDS + TTL_MARGIN_SECONDS + 60) * 1000;

/** The two sides of a fresh pair: A→B and B→A on one key. */
function pair(): [RelayIdentity, RelayIdentity] {
  const tag = randomUUID().slice(0, 8);
  const a = `a-${tag}`;
  const b = `b-${tag}`;
  return [
    { localId: a, remoteId: b, key: `doc-${tag}` },
    { localId: b, remoteId: a, key: `doc-${tag}` },
  ];
}

describeEachBackend('store: relay pairs and held frames', (backend) => {
  let s: OpenStore;
  let store: SignalStore;
  storePerBlock(backend, (opened) => {
    s = opened;
    store = opened.store;
  });

  async function relaySocket(identity: RelayIdentity = pair()[0]) {
    const connectionId = `r-${randomUUID().slice(0, 8)}`;
    await store.connections.putConnection({
      kind: 'relay',
      connectionId,
      connectedAt: 1,
      ...identity,
    });
    return connectionId;
  }

  it('lets the first socket wait and pairs the reciprocal one with it', async () => {
    const [ab, ba] = pair();
    expect(await store.relays.meet(ab, 'x')).toEqual({ waiting: true });
    expect(await store.relays.meet(ba, 'y')).toEqual({ paired: 'x' });
    // The rendezvous is used up: a later socket waits afresh.
    expect(await store.relays.meet(ba, 'z')).toEqual({ waiting: true });
  });

  it('does not pair sockets of different keys or the same direction', async () => {
    const [ab, ba] = pair();
    expect(await store.relays.meet(ab, 'x')).toEqual({ waiting: true });
    expect(await store.relays.meet({ ...ba, key: `${ba.key}-other` }, 'y')).toEqual({
      waiting: true,
    });
    expect(
      await store.relays.meet({ ...ab, localId: ab.remoteId, remoteId: `${ab.localId}x` }, 'z'),
    ).toEqual({
      waiting: true,
    });
  });

  it('makes exactly one pairing when both sides arrive at once, every time (200 times)', async () => {
    const outcomes = await mapLimit(
      Array.from({ length: 200 }, (_, i) => i),
      20,
      async () => {
        const [ab, ba] = pair();
        const [x, y] = await Promise.all([store.relays.meet(ab, 'x'), store.relays.meet(ba, 'y')]);
        return [x, y] as const;
      },
    );
    for (const [x, y] of outcomes) {
      const pairings = [x, y].filter((met) => 'paired' in met);
      expect(pairings).toHaveLength(1);
      // The one that paired found the other, and the other was told to wait (nothing replaced).
      if ('paired' in x) expect([x, y]).toEqual([{ paired: 'y' }, { waiting: true }]);
      else expect([x, y]).toEqual([{ waiting: true }, { paired: 'x' }]);
    }
  });

  it('replaces a waiting socket with a newer one for the same side, which is then paired', async () => {
    const [ab, ba] = pair();
    await store.relays.meet(ab, 'first');
    expect(await store.relays.meet(ab, 'second')).toEqual({ waiting: true, replaced: 'first' });
    // The replaced socket's late close leaves its successor waiting.
    await store.relays.leaveRendezvous(ab, 'first');
    expect(await store.relays.meet(ba, 'peer')).toEqual({ paired: 'second' });
  });

  it('hands the claimer the waiting socket’s transport, and a plain replacement clears it', async () => {
    const [ab, ba] = pair();
    const transport = 'signalsocket-1' as const;
    expect(await store.relays.meet({ ...ab, transport }, 'x')).toEqual({ waiting: true });
    expect(await store.relays.meet(ba, 'y')).toEqual({ paired: 'x', transport });
    // A plain socket replacing a transport one takes its side without its mark, and back.
    await store.relays.meet({ ...ab, transport }, 'first');
    await store.relays.meet(ab, 'second');
    expect(await store.relays.meet({ ...ba, transport }, 'peer')).toEqual({ paired: 'second' });
    await store.relays.meet(ab, 'third');
    await store.relays.meet({ ...ab, transport }, 'fourth');
    expect(await store.relays.meet(ba, 'peer')).toEqual({ paired: 'fourth', transport });
  });

  it('withdraws a waiting socket that closes', async () => {
    const [ab, ba] = pair();
    await store.relays.meet(ab, 'x');
    await store.relays.leaveRendezvous(ab, 'x');
    expect(await store.relays.meet(ba, 'y')).toEqual({ waiting: true });
  });

  it('never pairs with a waiting socket whose record has expired', async () => {
    const [ab, ba] = pair();
    await store.relays.meet(ab, 'x');
    const later = s.withClock(pastExpiry);
    expect(await later.relays.meet(ba, 'y')).toEqual({ waiting: true });
    expect(await later.relays.meet(ab, 'z')).toEqual({ paired: 'y' });
  });

  it('records a socket’s peer, unless the socket is gone', async () => {
    const c = await relaySocket();
    expect(await store.relays.setPeer(c, 'p', 123, false)).toMatchObject({
      peer: 'p',
      pairedAt: 123,
    });
    expect((await store.connections.getConnection(c)) as unknown).not.toHaveProperty('flushed');
    expect(await store.relays.setPeer(c, 'p', 123, true)).toMatchObject({ flushed: true });
    expect(await store.relays.setPeer('no-such-socket', 'p', 1, false)).toBeUndefined();
    expect(await store.connections.getConnection('no-such-socket')).toBeUndefined();
  });

  it('holds frames in order, numbered from 1', async () => {
    const c = await relaySocket();
    for (const [i, body] of ['one', 'two', 'three'].entries())
      expect(await holdFrame(store.relays, c, body, 100 + i, DEFAULT_LIMITS)).toEqual({
        held: i + 1,
      });
    expect(await store.relays.listHeld(c)).toEqual([
      { seq: 1, body: 'one', receivedAt: 100 },
      { seq: 2, body: 'two', receivedAt: 101 },
      { seq: 3, body: 'three', receivedAt: 102 },
    ]);
    expect(await store.connections.getConnection(c)).toMatchObject({ seq: 3, heldBytes: 11 });
  });

  it('numbers frames held at once without gaps or duplicates', async () => {
    const c = await relaySocket();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => holdFrame(store.relays, c, `f${i}`, i, DEFAULT_LIMITS)),
    );
    const seqs = results
      .map((result) => ('held' in result ? result.held : 0))
      .sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await store.relays.listHeld(c)).toHaveLength(40);
  });

  it('refuses frames past the frame limit and holds nothing more', async () => {
    const c = await relaySocket();
    const limits = { ...DEFAULT_LIMITS, maxHeldFrames: 2 };
    expect(await holdFrame(store.relays, c, 'a', 1, limits)).toEqual({ held: 1 });
    expect(await holdFrame(store.relays, c, 'b', 2, limits)).toEqual({ held: 2 });
    expect(await holdFrame(store.relays, c, 'c', 3, limits)).toEqual({ full: true });
    expect((await store.relays.listHeld(c)).map((frame) => frame.body)).toEqual(['a', 'b']);
  });

  it('lets a paired socket hold PAIRED_HOLD_FACTOR times the bounds while the deliverer drains it', async () => {
    const limits = { ...DEFAULT_LIMITS, maxHeldFrames: 2, maxHeldBytes: 10 };
    const c = await relaySocket();
    expect(await holdFrame(store.relays, c, 'a', 1, limits)).toEqual({ held: 1 });
    expect(await holdFrame(store.relays, c, 'b', 2, limits)).toEqual({ held: 2 });
    await store.relays.setPeer(c, 'p', 3, false);
    const more = PAIRED_HOLD_FACTOR * 2 - 2;
    for (let i = 0; i < more; i++)
      expect(await holdFrame(store.relays, c, 'x', 4 + i, limits)).toMatchObject({ held: 3 + i });
    expect(await holdFrame(store.relays, c, 'y', 99, limits)).toEqual({ full: true });
    // Bytes too: 4 × 10 in all, each frame counting its own.
    const d = await relaySocket();
    await store.relays.setPeer(d, 'p', 3, false);
    expect(await holdFrame(store.relays, d, 'x'.repeat(10), 1, limits)).toEqual({ held: 1 });
    expect(await holdFrame(store.relays, d, 'x'.repeat(11), 2, limits)).toEqual({ full: true });
    for (let i = 0; i < PAIRED_HOLD_FACTOR - 1; i++)
      expect(await holdFrame(store.relays, d, 'x'.repeat(10), 3 + i, limits)).toMatchObject({
        held: 2 + i,
      });
    expect(await holdFrame(store.relays, d, 'x', 9, limits)).toEqual({ full: true });
  });

  it('gives back what posted frames took of the bound while their claim is still posted', async () => {
    const limits = { ...DEFAULT_LIMITS, maxHeldFrames: 3 };
    const c = await relaySocket();
    for (const [i, body] of ['a', 'bb', 'ccc'].entries())
      await holdFrame(store.relays, c, body, i + 1, limits);
    expect(await holdFrame(store.relays, c, 'd', 4, limits)).toEqual({ full: true });
    expect(await store.relays.claimHeld(c, 0, 3, { at: 7 })).toBe(true);
    expect(await store.relays.releaseHeld(c, 8, { frames: 1, bytes: 1 })).toBe(false); // not this claim
    expect(await store.relays.releaseHeld(c, 7, { frames: 2, bytes: 3 })).toBe(true);
    expect(await store.connections.getConnection(c)).toMatchObject({ held: 1, heldBytes: 3 });
    expect(await holdFrame(store.relays, c, 'd', 5, limits)).toEqual({ held: 4 });
    // The claim's last write gives back the rest of it.
    expect(await store.relays.finishHeld(c, 3, 7, { frames: 1, bytes: 3 })).toBe(true);
    expect(await store.connections.getConnection(c)).toMatchObject({ held: 1, heldBytes: 1 });
    expect(await store.relays.releaseHeld('no-such-socket', 7, { frames: 1, bytes: 1 })).toBe(
      false,
    );
  });

  it('refuses frames past the byte limit, counting UTF-8 bytes', async () => {
    const c = await relaySocket();
    const limits = { ...DEFAULT_LIMITS, maxHeldBytes: 10 };
    expect(await holdFrame(store.relays, c, '🐟xx', 1, limits)).toEqual({ held: 1 }); // 6 bytes
    expect(await holdFrame(store.relays, c, 'xxxxx', 2, limits)).toEqual({ full: true }); // 11 > 10
    expect(await holdFrame(store.relays, c, 'xxxx', 3, limits)).toEqual({ held: 2 }); // exactly 10
    expect(await holdFrame(store.relays, c, 'x', 4, limits)).toEqual({ full: true });
    expect(await holdFrame(store.relays, await relaySocket(), 'x'.repeat(11), 1, limits)).toEqual({
      full: true,
    });
  });

  it('answers gone when the socket’s record is gone', async () => {
    expect(await holdFrame(store.relays, 'no-such-socket', 'x', 1, DEFAULT_LIMITS)).toEqual({
      gone: true,
    });
    expect(await store.relays.listHeld('no-such-socket')).toEqual([]);
  });

  it('opens the direct path only when nothing more was held, then holds nothing more', async () => {
    const c = await relaySocket();
    await store.relays.setPeer(c, 'p', 5, false);
    await holdFrame(store.relays, c, 'a', 1, DEFAULT_LIMITS);
    await holdFrame(store.relays, c, 'b', 2, DEFAULT_LIMITS);
    expect(await store.relays.markFlushed(c, 0)).toBe(false);
    expect(await store.relays.markFlushed(c, 1)).toBe(false);
    // Both frames held, but not yet claimed and posted: the path stays shut.
    expect(await store.relays.markFlushed(c, 2)).toBe(false);
    expect(await store.relays.claimHeld(c, 0, 2, { at: 10 })).toBe(true);
    expect(await store.relays.markFlushed(c, 2)).toBe(false);
    expect(await store.relays.finishHeld(c, 2, 10, { frames: 2, bytes: 2 })).toBe(true);
    expect(await store.relays.markFlushed(c, 2)).toBe(true);
    expect(await holdFrame(store.relays, c, 'c', 3, DEFAULT_LIMITS)).toEqual({
      flushed: expect.objectContaining({
        connectionId: c,
        peer: 'p',
        pairedAt: 5,
        flushed: true,
      }) as unknown,
    });
    expect(await store.relays.listHeld(c)).toHaveLength(2);
  });

  it('flushes a socket that never held anything', async () => {
    const c = await relaySocket();
    expect(await store.relays.markFlushed(c, 0)).toBe(true);
    expect(await store.relays.markFlushed('no-such-socket', 0)).toBe(false);
  });

  it('lets only one deliverer claim each range of held frames', async () => {
    const c = await relaySocket();
    for (let i = 0; i < 3; i++) await holdFrame(store.relays, c, `f${i}`, i, DEFAULT_LIMITS);
    const claims = await Promise.all([
      store.relays.claimHeld(c, 0, 2),
      store.relays.claimHeld(c, 0, 2),
    ]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.relays.claimHeld(c, 0, 3)).toBe(false);
    expect(await store.relays.claimHeld(c, 2, 3)).toBe(true);
    expect(await store.connections.getConnection(c)).toMatchObject({ seq: 3, delivered: 3 });
  });

  it('removes chosen held frames, or all of them (more than one batch)', async () => {
    const c = await relaySocket();
    for (let i = 0; i < 60; i++) await holdFrame(store.relays, c, `f${i}`, i, DEFAULT_LIMITS);
    await store.relays.removeHeld(c, [1, 2, 60]);
    const left = await store.relays.listHeld(c);
    expect(left).toHaveLength(57);
    expect(left[0]?.seq).toBe(3);
    await store.relays.removeHeld(c);
    expect(await store.relays.listHeld(c)).toEqual([]);
  });

  it('lists a bounded range of held frames, tombstones marked', async () => {
    const c = await relaySocket();
    for (let i = 1; i <= 6; i++) await holdFrame(store.relays, c, `f${i}`, i, DEFAULT_LIMITS);
    expect(await store.relays.skipHeld(c, 7)).toBe(true);
    expect((await store.relays.listHeld(c, { after: 2, upTo: 4 })).map((f) => f.body)).toEqual([
      'f3',
      'f4',
    ]);
    expect(await store.relays.listHeld(c, { after: 6, upTo: 9 })).toEqual([
      { seq: 7, body: '', receivedAt: 0, skipped: true },
    ]);
  });

  it('refuses a held frame written after its number was skipped, never one written twice', async () => {
    const c = await relaySocket();
    // The frame's number is taken, its write held back until the deliverer skipped it.
    const counted = await store.relays.countHeld(c, 4, DEFAULT_LIMITS);
    expect(counted).toEqual({ seq: 1 });
    expect(await store.relays.skipHeld(c, 1)).toBe(true);
    expect(await store.relays.writeHeld(c, 1, 'late', 1)).toBe(false);
    expect(await store.relays.skipHeld(c, 1)).toBe(false); // a tombstone is written once
    // A write retried after its answer was lost finds its own item, and lands.
    expect(await store.relays.countHeld(c, 5, DEFAULT_LIMITS)).toEqual({ seq: 2 });
    expect(await store.relays.writeHeld(c, 2, 'again', 2)).toBe(true);
    expect(await store.relays.writeHeld(c, 2, 'again', 2)).toBe(true);
    expect(await store.relays.skipHeld(c, 2)).toBe(false);
  });

  it('hands over to the direct path with the few frames counted meanwhile, or not at all', async () => {
    const c = await relaySocket();
    for (let i = 1; i <= 3; i++) await holdFrame(store.relays, c, `f${i}`, i, DEFAULT_LIMITS);
    expect(await store.relays.claimHeld(c, 0, 2, { at: 7 })).toBe(true);
    const released = { frames: 2, bytes: 4 };
    // f3 was counted after the claim: more than a slack of 0, so the path stays shut.
    expect(await store.relays.handOver(c, 2, 7, released, 0)).toBeUndefined();
    expect(await store.relays.handOver(c, 2, 8, released, 1)).toBeUndefined(); // not this claim
    expect(await store.relays.handOver(c, 2, 7, released, 1)).toBe(3);
    expect(await store.connections.getConnection(c)).toMatchObject({
      flushed: true,
      sent: 2,
      delivered: 3,
      held: 1,
      heldBytes: 2,
    });
    expect(await holdFrame(store.relays, c, 'direct', 4, DEFAULT_LIMITS)).toMatchObject({
      flushed: {},
    });
    expect(await store.relays.finishHeld(c, 3, 7, { frames: 1, bytes: 2 })).toBe(true);
    expect(await store.connections.getConnection(c)).toMatchObject({
      sent: 3,
      held: 0,
      heldBytes: 0,
    });
  });

  it('marks an abandoned claim, so that no one takes it for one at work', async () => {
    const c = await relaySocket();
    await holdFrame(store.relays, c, 'f1', 1, DEFAULT_LIMITS);
    expect(await store.relays.claimHeld(c, 0, 1, { at: 7 })).toBe(true);
    await store.relays.abandonClaim(c, 8); // not this claim: nothing changes
    expect(await store.connections.getConnection(c)).toMatchObject({ claimedAt: 7 });
    await store.relays.abandonClaim(c, 7);
    expect((await store.connections.getConnection(c)) as object).not.toHaveProperty('claimedAt');
  });
});

/**
 * The stage's introduction budget, with the real handlers over a real DynamoDB API and the
 * management API in memory (./support/world.ts), counting every post: however many peers join
 * in a minute, that minute posts at most `introductionPostsPerMinute` introductions; a joiner
 * the budget cannot serve is told so and closed, and is introduced when it joins again later.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { INTRODUCTIONS_DEFERRED } from '../../lambda/core/introduction.js';
import { INTRODUCTION_BUDGET_SHARDS } from '../../lambda/core/limits.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';
import { openWorld, type World } from '../support/world.js';

/** Each share of the budget holds two fan-outs to a crowd of five (10 posts each). */
const PER_MINUTE = INTRODUCTION_BUDGET_SHARDS * 20;
const FAN_OUT = 10;
const JOINERS = 12;
const MINUTE = 60_000;

describeEachBackend('introduction budget', (backend) => {
  let s: OpenStore;
  let w: World;
  beforeEach(async () => {
    s = await openStore(backend);
    w = openWorld(s, { limits: { introductionPostsPerMinute: PER_MINUTE } });
  });
  afterEach(async () => {
    await w.settled();
    w.close();
    await s.close();
  });

  const tag = () => randomUUID().slice(0, 8);
  const parsed = (data: string) => JSON.parse(data) as { type: string; error?: string };
  const isIntroduction = (data: string) => parsed(data).type === 'Introduction';
  const introductionsAmong = (posts: { data: string }[]) =>
    posts.filter((p) => isIntroduction(p.data)).length;

  /** The handlers' clock: the world's advances on top of the wall clock. */
  let offset = 0;
  const now = () => Date.now() + offset;
  /** Moves the handlers' clock to a second into the next minute: a fresh budget, 59 s of it. */
  function nextMinute(): void {
    const ms = MINUTE - (now() % MINUTE) + 1_000;
    offset += ms;
    w.advance(ms);
  }

  /** Five peers on `key`, each on its own socket; then a fresh minute. */
  async function crowd(key: string): Promise<void> {
    offset = 0;
    for (let i = 0; i < 5; i++) {
      const socket = `q${i}-${tag()}`;
      await w.introduce(socket, `q${i}-${tag()}`);
      await w.join(socket, key);
    }
    nextMinute();
  }

  it('posts at most the minute’s budget, and closes each joiner it could not introduce', async () => {
    const key = `doc-${tag()}`;
    await crowd(key);
    const joiners = Array.from({ length: JOINERS }, () => ({
      socket: `j-${tag()}`,
      peer: `p-${tag()}`,
    }));
    const before = w.sockets.posts.length;
    // One after another, each leaving before the next: every fan-out is to the crowd alone.
    for (const { socket, peer } of joiners) {
      await w.introduce(socket, peer);
      await w.join(socket, key);
      await w.disconnect(socket);
    }
    const posted = w.sockets.posts.slice(before);

    const served = joiners.filter(({ socket }) => !w.sockets.closed.includes(socket));
    const deferred = joiners.filter(({ socket }) => w.sockets.closed.includes(socket));
    // Every fan-out is whole: the crowd's five both ways.
    expect(introductionsAmong(posted)).toBe(served.length * FAN_OUT);
    expect(introductionsAmong(posted)).toBeLessThanOrEqual(PER_MINUTE);
    // The first two Joins always find room (a share holds two); the budget holds 8 fan-outs.
    expect(served.length).toBeGreaterThanOrEqual(2);
    expect(deferred.length).toBeGreaterThanOrEqual(JOINERS - PER_MINUTE / FAN_OUT);
    for (const { socket } of deferred) {
      expect(w.sockets.received(socket).map(parsed)).toEqual([
        { type: 'Error', error: INTRODUCTIONS_DEFERRED },
      ]);
    }
  });

  it('introduces a deferred joiner when it joins again on a new socket a minute later', async () => {
    const key = `doc-${tag()}`;
    await crowd(key);
    // Others spend the whole minute (a share refuses what does not fit; picks are at random).
    for (let i = 0; i < 200; i++) await w.store.budget.spendIntroductions(1, PER_MINUTE, now());
    const peer = `p-${tag()}`;
    await w.introduce('first', peer);
    await w.join('first', key);
    expect(w.sockets.closed).toContain('first');
    expect(w.sockets.received('first').map(parsed)).toEqual([
      { type: 'Error', error: INTRODUCTIONS_DEFERRED },
    ]);
    await w.disconnect('first');

    // cevitxe-signal-client reconnects when its socket closes, and joins its keys again.
    nextMinute();
    await w.introduce('again', peer);
    await w.join('again', key);
    expect(w.sockets.closed).not.toContain('again');
    expect(w.sockets.received('again').filter(isIntroduction)).toHaveLength(5);
  });
});

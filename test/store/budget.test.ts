/**
 * The stage's introduction budget in the store, against a real DynamoDB API: each share of a
 * minute takes posts while they fit and refuses, taking nothing, when they do not; a new minute
 * starts empty, and concurrent spends never take more than a share holds.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { INTRODUCTION_BUDGET_SHARDS } from '../../lambda/core/limits.js';
import { DynamoBudget } from '../../lambda/core/store/budget.js';
import { budgetKey, Table, TTL } from '../../lambda/core/store/table.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';

const SHARE = 10;
const PER_MINUTE = SHARE * INTRODUCTION_BUDGET_SHARDS;
const MINUTE = 60_000;

describeEachBackend('store: introduction budget', (backend) => {
  let s: OpenStore;
  /** A budget that always picks `shard`. */
  const budgetOn = (shard: number) =>
    new DynamoBudget(
      new Table(s.db, s.tableName, Date.now),
      () => shard / INTRODUCTION_BUDGET_SHARDS,
    );
  beforeAll(async () => {
    s = await openStore(backend);
  });
  afterAll(() => s?.close());

  /** A minute no other test of this file uses: each test starts with an empty budget. */
  let minutes = 0;
  const freshMinute = () => (1_000_000 + ++minutes * 10) * MINUTE;

  it('takes posts while they fit in a share, then refuses without taking any', async () => {
    const at = freshMinute();
    const budget = budgetOn(0);
    expect(await budget.spendIntroductions(6, PER_MINUTE, at)).toBe(true);
    expect(await budget.spendIntroductions(5, PER_MINUTE, at + 1_000)).toBe(false);
    expect(await budget.spendIntroductions(4, PER_MINUTE, at + 2_000)).toBe(true);
    expect(await budget.spendIntroductions(1, PER_MINUTE, at + 3_000)).toBe(false);
    // Another share of the same minute, and the next minute, have their own room.
    expect(await budgetOn(1).spendIntroductions(SHARE, PER_MINUTE, at)).toBe(true);
    expect(await budget.spendIntroductions(SHARE, PER_MINUTE, at + MINUTE)).toBe(true);
  });

  it('refuses a fan-out larger than a share, whatever has been spent', async () => {
    expect(await budgetOn(2).spendIntroductions(SHARE + 1, PER_MINUTE, freshMinute())).toBe(false);
  });

  it('never takes more than a share under concurrent spends', async () => {
    const at = freshMinute();
    const budget = budgetOn(3);
    const taken = await Promise.all(
      Array.from({ length: 12 }, (_, i) => budget.spendIntroductions(1 + (i % 3), PER_MINUTE, at)),
    );
    const spent = taken.reduce((sum, ok, i) => sum + (ok ? 1 + (i % 3) : 0), 0);
    expect(spent).toBeLessThanOrEqual(SHARE);
    expect(spent).toBeGreaterThan(SHARE - 3);
  });

  it('lets TTL remove a minute’s items soon after the minute', async () => {
    const at = freshMinute();
    await budgetOn(0).spendIntroductions(1, PER_MINUTE, at);
    const { Item: item } = await s.db.send(
      new GetCommand({ TableName: s.tableName, Key: budgetKey('introductions', at / MINUTE, 0) }),
    );
    expect(item?.[TTL]).toBeGreaterThan(at / 1000);
    expect(item?.[TTL]).toBeLessThanOrEqual(at / 1000 + 4 * 60);
  });
});

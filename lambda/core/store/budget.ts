/**
 * The stage's introduction budget (B#introductions#<minute>#<shard> / B): how many introduction
 * posts each minute has spent, in INTRODUCTION_BUDGET_SHARDS items, each holding its share.
 */
import { INTRODUCTION_BUDGET_SHARDS } from '../limits.js';
import type { BudgetStore } from '../store.js';
import { or } from './conditions.js';
import { budgetKey, TTL, type Table } from './table.js';

/** A minute's items outlive it by this much, then TTL removes them; nothing reads them again. */
const BUDGET_TTL_SECONDS = 2 * 60;

export class DynamoBudget implements BudgetStore {
  constructor(
    private readonly table: Table,
    private readonly pick: () => number = Math.random,
  ) {}

  /**
   * Takes `posts` from the minute of `at` (ms), in one conditional write to one share, chosen at
   * random; a share without room for them refuses, and nothing is taken. Each share is
   * `perMinute / INTRODUCTION_BUDGET_SHARDS`, so the minute never spends more than `perMinute`.
   */
  async spendIntroductions(posts: number, perMinute: number, at: number): Promise<boolean> {
    const minute = Math.floor(at / 60_000);
    const shard = Math.floor(this.pick() * INTRODUCTION_BUDGET_SHARDS);
    const share = Math.floor(perMinute / INTRODUCTION_BUDGET_SHARDS);
    if (posts > share) return false;
    return this.table.holds(
      this.table.updateIf({
        Key: budgetKey('introductions', minute, shard),
        UpdateExpression: 'ADD #spent :posts SET #ttl = if_not_exists(#ttl, :ttl)',
        ConditionExpression: or('attribute_not_exists(#spent)', '#spent <= :room'),
        ExpressionAttributeNames: { '#spent': 'spent', '#ttl': TTL },
        ExpressionAttributeValues: {
          ':posts': posts,
          ':room': share - posts,
          ':ttl': (minute + 1) * 60 + BUDGET_TTL_SECONDS,
        },
      }),
    );
  }
}

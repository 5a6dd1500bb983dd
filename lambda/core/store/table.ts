/**
 * The one DynamoDB table as the store's modules share it: item keys, expiry, conditional writes,
 * batches and partition queries. Only single-item conditional writes (no transactions), so
 * dynalite, DynamoDB Local and DynamoDB behave alike.
 */
import { createHash } from 'node:crypto';
import {
  BatchWriteCommand,
  DeleteCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DeleteCommandInput,
  type DeleteCommandOutput,
  type DynamoDBDocumentClient,
  type PutCommandInput,
  type PutCommandOutput,
  type UpdateCommandInput,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { backoff } from '../backoff.js';
import { MAX_CONNECTION_SECONDS, TTL_MARGIN_SECONDS } from '../limits.js';
import { TABLE_SCHEMA } from '../schema.js';
import type { RelayIdentity } from '../store.js';
import { isConditionFailure } from './conditions.js';

export const { partitionKey: PK, sortKey: SK, timeToLiveAttribute: TTL } = TABLE_SCHEMA;

export const connKey = (id: string) => ({ [PK]: `C#${id}`, [SK]: 'C' });
export const peerKey = (id: string) => ({ [PK]: `P#${id}`, [SK]: 'P' });
export const indexKey = (key: string, peerId: string) => ({
  [PK]: `K#${key}`,
  [SK]: `P#${peerId}`,
});
export const budgetKey = (name: string, minute: number, shard: number) => ({
  [PK]: `B#${name}#${minute}#${shard}`,
  [SK]: 'B',
});
export const heldKey = (id: string, seq: number) => ({
  [PK]: `H#${id}`,
  [SK]: String(seq).padStart(10, '0'),
});

/** The rendezvous item of a pair and which side of it a socket takes. Hashed: keys stay small. */
export function rendezvousKey(relay: RelayIdentity) {
  const low = relay.localId < relay.remoteId;
  const ids = low ? [relay.localId, relay.remoteId] : [relay.remoteId, relay.localId];
  const hash = createHash('sha256')
    .update(JSON.stringify([relay.key, ...ids]))
    .digest('base64url');
  return {
    key: { [PK]: `R#${hash}`, [SK]: 'R' },
    side: low ? 'lo' : 'hi',
    other: low ? 'hi' : 'lo',
  };
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export type Item = Record<string, unknown>;

export class Table {
  constructor(
    readonly db: DynamoDBDocumentClient,
    readonly name: string,
    readonly clock: () => number = Date.now,
  ) {}

  nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Every record may outlive the longest connection by a margin, then TTL removes it. */
  expiresAt(): number {
    return this.nowSeconds() + MAX_CONNECTION_SECONDS + TTL_MARGIN_SECONDS;
  }

  live<T extends Item>(item: T | undefined): T | undefined {
    if (!item) return undefined;
    return (item[TTL] as number) > this.nowSeconds() ? item : undefined;
  }

  /** Whether a conditional write was made (its condition held). */
  async holds(write: Promise<unknown>): Promise<boolean> {
    return (await write) !== undefined;
  }

  /** An UpdateItem on this table: its output, or undefined when its condition did not hold. */
  updateIf(input: Omit<UpdateCommandInput, 'TableName'>): Promise<UpdateCommandOutput | undefined> {
    const command = new UpdateCommand({ ...input, TableName: this.name });
    return this.ifConditionHolds(this.db.send(command));
  }

  /** A DeleteItem on this table: its output, or undefined when its condition did not hold. */
  deleteIf(input: Omit<DeleteCommandInput, 'TableName'>): Promise<DeleteCommandOutput | undefined> {
    const command = new DeleteCommand({ ...input, TableName: this.name });
    return this.ifConditionHolds(this.db.send(command));
  }

  /** A PutItem on this table: its output, or undefined when its condition did not hold. */
  putIf(input: Omit<PutCommandInput, 'TableName'>): Promise<PutCommandOutput | undefined> {
    const command = new PutCommand({ ...input, TableName: this.name });
    return this.ifConditionHolds(this.db.send(command));
  }

  /** Runs a conditional write; its output, or undefined when its condition did not hold. */
  private async ifConditionHolds<T>(write: Promise<T>): Promise<T | undefined> {
    try {
      return await write;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /** Writes items 25 a request (BatchWriteItem), sending again what DynamoDB leaves unprocessed. */
  async batchWrite(requests: Item[]): Promise<void> {
    for (const batch of chunks(requests, 25))
      await this.untilProcessed(batch, 11, 'writes', async (pending) => {
        const { UnprocessedItems } = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.name]: pending } }),
        );
        return UnprocessedItems?.[this.name] ?? [];
      });
  }

  /**
   * Sends a batch request until DynamoDB has processed all of it: what `send` returns as left
   * unprocessed is sent again after a pause (40 ms, doubling up to 1 s), `attempts` times in
   * all; then this throws.
   */
  async untilProcessed<T>(
    batch: T[],
    attempts: number,
    what: string,
    send: (pending: T[]) => Promise<T[]>,
  ): Promise<void> {
    let pending = batch;
    const left = await backoff(
      { first: 40, max: 1_000, attempts },
      async () => (pending = await send(pending)),
      (unprocessed) => unprocessed.length > 0,
    );
    if (left.length > 0) throw new Error(`DynamoDB left ${what} unprocessed`);
  }

  /**
   * The items of one partition, read consistently page by page: only live ones (TTL not past),
   * only the attributes projected, only sort keys `between` two (inclusive), and at most
   * `limit`, as asked.
   */
  async queryPartition(
    pk: string,
    options: {
      liveOnly?: boolean;
      projection?: string[];
      between?: [string, string];
      limit?: number;
    } = {},
  ): Promise<Item[]> {
    const { liveOnly = false, projection, between, limit = Infinity } = options;
    const names = {
      ...(liveOnly ? { '#ttl': TTL } : {}),
      ...Object.fromEntries((projection ?? []).map((name, i) => [`#p${i}`, name])),
    };
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: between
            ? `${PK} = :pk AND ${SK} BETWEEN :lo AND :hi`
            : `${PK} = :pk`,
          ...(liveOnly ? { FilterExpression: '#ttl > :now' } : {}),
          ...(projection
            ? { ProjectionExpression: projection.map((_, i) => `#p${i}`).join(', ') }
            : {}),
          ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
          ExpressionAttributeValues: {
            ':pk': pk,
            ...(between ? { ':lo': between[0], ':hi': between[1] } : {}),
            ...(liveOnly ? { ':now': this.nowSeconds() } : {}),
          },
          ConsistentRead: true,
          ...(Number.isFinite(limit) ? { Limit: limit - items.length } : {}),
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items;
  }
}

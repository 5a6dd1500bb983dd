/** Socket items (C#<connectionId> / C): what a socket asked for at $connect, and its pairing. */
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRecord, ConnectionStore } from '../store.js';
import { ITEM_ABSENT } from './conditions.js';
import { connKey, TTL, type Table } from './table.js';

export class DynamoConnections implements ConnectionStore {
  constructor(private readonly table: Table) {}

  /**
   * Records a socket at $connect. A duplicate $connect for the same id changes nothing: false
   * then, true when the record was made now.
   */
  async putConnection(record: ConnectionRecord): Promise<boolean> {
    return this.table.holds(
      this.table.putIf({
        Item: { ...connKey(record.connectionId), ...record, [TTL]: this.table.expiresAt() },
        ConditionExpression: ITEM_ABSENT,
      }),
    );
  }

  /**
   * A socket's record. `consistent: false` reads at half the cost, for callers that only need
   * what never changes after $connect (its kind) and can do without a record written just now.
   */
  async getConnection(id: string, consistent = true): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.name, Key: connKey(id), ConsistentRead: consistent }),
    );
    return this.table.live(Item) as ConnectionRecord | undefined;
  }

  /** Removes a socket's record and returns what it was; undefined if it was already gone. */
  async removeConnection(id: string): Promise<ConnectionRecord | undefined> {
    const { Attributes } = await this.table.db.send(
      new DeleteCommand({ TableName: this.table.name, Key: connKey(id), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes as ConnectionRecord | undefined;
  }
}

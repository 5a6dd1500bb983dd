/**
 * The SignalStore on DynamoDB: one table, one module per kind of item, each a part of the store.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SignalStore } from '../store.js';
import { DynamoBudget } from './budget.js';
import { DynamoConnections } from './connections.js';
import { DynamoPeers } from './peers.js';
import { DynamoRelays } from './relays.js';
import { Table } from './table.js';

export class DynamoSignalStore implements SignalStore {
  readonly connections: DynamoConnections;
  readonly peers: DynamoPeers;
  readonly relays: DynamoRelays;
  readonly budget: DynamoBudget;

  constructor(db: DynamoDBDocumentClient, tableName: string, clock: () => number = Date.now) {
    const table = new Table(db, tableName, clock);
    this.connections = new DynamoConnections(table);
    this.peers = new DynamoPeers(table);
    this.relays = new DynamoRelays(table, this.connections);
    this.budget = new DynamoBudget(table);
  }
}

/**
 * The SignalStore on DynamoDB: one table, one module per kind of item, each method handed to the
 * module that owns its items.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BudgetStore, ConnectionStore, PeerStore, RelayStore, SignalStore } from '../store.js';
import { DynamoBudget } from './budget.js';
import { DynamoConnections } from './connections.js';
import { DynamoPeers } from './peers.js';
import { DynamoRelays } from './relays.js';
import { Table } from './table.js';

export class DynamoSignalStore implements SignalStore {
  private readonly connections: DynamoConnections;
  private readonly peers: DynamoPeers;
  private readonly relays: DynamoRelays;
  private readonly budget: DynamoBudget;

  constructor(db: DynamoDBDocumentClient, tableName: string, clock: () => number = Date.now) {
    const table = new Table(db, tableName, clock);
    this.connections = new DynamoConnections(table);
    this.peers = new DynamoPeers(table);
    this.relays = new DynamoRelays(table, this.connections);
    this.budget = new DynamoBudget(table);
  }

  // ---- connections ----

  putConnection(...args: Parameters<ConnectionStore['putConnection']>) {
    return this.connections.putConnection(...args);
  }

  getConnection(...args: Parameters<ConnectionStore['getConnection']>) {
    return this.connections.getConnection(...args);
  }

  removeConnection(...args: Parameters<ConnectionStore['removeConnection']>) {
    return this.connections.removeConnection(...args);
  }

  // ---- peers ----

  registerSocket(...args: Parameters<PeerStore['registerSocket']>) {
    return this.peers.registerSocket(...args);
  }

  evictSocket(...args: Parameters<PeerStore['evictSocket']>) {
    return this.peers.evictSocket(...args);
  }

  unregisterSocket(...args: Parameters<PeerStore['unregisterSocket']>) {
    return this.peers.unregisterSocket(...args);
  }

  getPeer(...args: Parameters<PeerStore['getPeer']>) {
    return this.peers.getPeer(...args);
  }

  getPeers(...args: Parameters<PeerStore['getPeers']>) {
    return this.peers.getPeers(...args);
  }

  setKeys(...args: Parameters<PeerStore['setKeys']>) {
    return this.peers.setKeys(...args);
  }

  indexKeys(...args: Parameters<PeerStore['indexKeys']>) {
    return this.peers.indexKeys(...args);
  }

  unindexKeys(...args: Parameters<PeerStore['unindexKeys']>) {
    return this.peers.unindexKeys(...args);
  }

  joinersOfKey(...args: Parameters<PeerStore['joinersOfKey']>) {
    return this.peers.joinersOfKey(...args);
  }

  // ---- relays ----

  meet(...args: Parameters<RelayStore['meet']>) {
    return this.relays.meet(...args);
  }

  leaveRendezvous(...args: Parameters<RelayStore['leaveRendezvous']>) {
    return this.relays.leaveRendezvous(...args);
  }

  setPeer(...args: Parameters<RelayStore['setPeer']>) {
    return this.relays.setPeer(...args);
  }

  countHeld(...args: Parameters<RelayStore['countHeld']>) {
    return this.relays.countHeld(...args);
  }

  writeHeld(...args: Parameters<RelayStore['writeHeld']>) {
    return this.relays.writeHeld(...args);
  }

  listHeld(...args: Parameters<RelayStore['listHeld']>) {
    return this.relays.listHeld(...args);
  }

  claimHeld(...args: Parameters<RelayStore['claimHeld']>) {
    return this.relays.claimHeld(...args);
  }

  finishHeld(...args: Parameters<RelayStore['finishHeld']>) {
    return this.relays.finishHeld(...args);
  }

  handOver(...args: Parameters<RelayStore['handOver']>) {
    return this.relays.handOver(...args);
  }

  skipHeld(...args: Parameters<RelayStore['skipHeld']>) {
    return this.relays.skipHeld(...args);
  }

  abandonClaim(...args: Parameters<RelayStore['abandonClaim']>) {
    return this.relays.abandonClaim(...args);
  }

  markFlushed(...args: Parameters<RelayStore['markFlushed']>) {
    return this.relays.markFlushed(...args);
  }

  removeHeld(...args: Parameters<RelayStore['removeHeld']>) {
    return this.relays.removeHeld(...args);
  }

  // ---- budget ----

  spendIntroductions(...args: Parameters<BudgetStore['spendIntroductions']>) {
    return this.budget.spendIntroductions(...args);
  }
}

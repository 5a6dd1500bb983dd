/**
 * Everything the signal server keeps, in one DynamoDB table (TABLE_SCHEMA), behind the
 * SignalStore interface; DynamoSignalStore (store/dynamo.ts) implements it. No Scan anywhere:
 * every read is a GetItem, a BatchGetItem or a Query on one partition.
 *
 *   C#<connectionId> / C         a socket: what it asked for at $connect, and for a relay socket
 *                                its peer, its held-frame counters and whether it is flushed
 *   P#<peerId> / P               an introduction peer: its key set, current socket, all sockets
 *   K#<key> / P#<peerId>         index: which peers hold a key (checked against P# on read)
 *   R#<hash of key, ids> / R     rendezvous of a relay pair: the one socket waiting, if any
 *   H#<connectionId> / <seq>     a frame held for a relay socket whose peer is not ready
 *
 * Every item carries expiresAt (epoch seconds): the 2-hour connection limit plus a margin. Every
 * write that can create an item sets it; every other write requires the item to exist. TTL
 * deletion is lazy, so reads ignore expired items.
 */
import type { Limits } from './limits.js';
import type { Transport } from './protocol.js';

export interface IntroductionConnection {
  kind: 'introduction';
  connectionId: string;
  peerId: string;
  connectedAt: number;
}

export interface RelayConnection {
  kind: 'relay';
  connectionId: string;
  localId: string;
  remoteId: string;
  key: string;
  connectedAt: number;
  /** The client transport marked at the handshake; absent for a plain socket. */
  transport?: Transport;
  /** The paired socket, once the reciprocal socket has arrived. */
  peer?: string;
  /** When the pair was made (ms): the peer may answer 410 until its own $connect returned. */
  pairedAt?: number;
  /** Set once every frame held for this socket has been delivered: frames then go straight. */
  flushed?: boolean;
  /** How many frames were ever held (the last held frame's sequence number). */
  seq?: number;
  /** How many frames are held now (not yet posted): the held-frame bound applies to it. */
  held?: number;
  /** How many held frames have been claimed for delivery. */
  delivered?: number;
  /** How many claimed frames were posted: below `delivered` while a deliverer is at work. */
  sent?: number;
  /** When the current claim was made (ms): a claim older than the deliver timeout is dead. */
  claimedAt?: number;
  heldBytes?: number;
}

export type ConnectionRecord = IntroductionConnection | RelayConnection;

export interface PeerRecord {
  peerId: string;
  /** The newest socket of this peer id: introductions go there. */
  current: string;
  /** Every open socket of this peer id: its keys are forgotten when the last one closes. */
  sockets: string[];
  /** The socket that created this record; index items carry it so cleanup never races a successor. */
  session: string;
  keys: string[];
  version: number;
  /** The sockets whose Join introduced this peer: a later Join on one of them is budgeted. */
  introducedSockets: string[];
  /** When (ms) a Join last introduced this peer: the re-introduction budget's window. */
  reintroducedAt?: number;
  /** Which message last introduced this peer: its own retry knows the budget is its. */
  reintroducedBy?: string;
}

/** What a Join that introduces writes beside the key set (the re-introduction budget). */
export interface Introduced {
  socket: string;
  at: number;
  by: string;
}

/** What frames take of the held-frame bound: their number, and their bodies' bytes. */
export interface HeldAmount {
  frames: number;
  bytes: number;
}

export interface HeldFrame {
  seq: number;
  body: string;
  receivedAt: number;
  /** A tombstone: the deliverer skipped this number, whose frame was never written in time. */
  skipped?: true;
}

export type RelayIdentity = Pick<RelayConnection, 'localId' | 'remoteId' | 'key'>;

/** Pairs with the waiting socket (and the transport it was marked with), or waits. */
export type Rendezvous =
  { paired: string; transport?: Transport } | { waiting: true; replaced?: string };

/** A frame counted to be held (its number), or why it cannot be. */
export type HeldCount =
  { seq: number } | { flushed: RelayConnection } | { full: true } | { gone: true };

/** Socket records (store/connections.ts). */
export interface ConnectionStore {
  /** Records a socket at $connect; false for a duplicate $connect (nothing changes). */
  putConnection(record: ConnectionRecord): Promise<boolean>;
  /** A socket's record; `consistent: false` reads at half the cost. */
  getConnection(id: string, consistent?: boolean): Promise<ConnectionRecord | undefined>;
  /** Removes a socket's record and returns what it was. */
  removeConnection(id: string): Promise<ConnectionRecord | undefined>;
}

/**
 * One attempt to register a socket with its peer id: done, refused at the bound (the sockets the
 * peer has), or raced by another change between its writes (nothing written: try again).
 */
export type Registration = 'registered' | { full: string[] } | 'raced';

/** Introduction peers and the key index (store/peers.ts). */
export interface PeerStore {
  registerSocket(peerId: string, connectionId: string, maxSockets?: number): Promise<Registration>;
  evictSocket(peerId: string, connectionId: string): Promise<void>;
  unregisterSocket(peerId: string, connectionId: string): Promise<string[] | undefined>;
  getPeer(peerId: string): Promise<PeerRecord | undefined>;
  getPeers(peerIds: readonly string[]): Promise<PeerRecord[]>;
  setKeys(
    peer: PeerRecord,
    keys: string[],
    introduced?: Introduced,
  ): Promise<PeerRecord | undefined>;
  indexKeys(
    peerId: string,
    session: string,
    keys: readonly string[],
    version?: number,
  ): Promise<void>;
  unindexKeys(
    peerId: string,
    session: string,
    keys: readonly string[],
    version: number,
  ): Promise<void>;
  joinersOfKey(key: string): Promise<{ peerId: string; joinedAt: number }[]>;
}

/** Relay rendezvous and held frames (store/relays.ts). */
export interface RelayStore {
  meet(
    relay: RelayIdentity & Pick<RelayConnection, 'transport'>,
    connectionId: string,
  ): Promise<Rendezvous>;
  leaveRendezvous(relay: RelayIdentity, connectionId: string): Promise<void>;
  setPeer(
    connectionId: string,
    peer: string,
    pairedAt: number,
    flushed: boolean,
  ): Promise<RelayConnection | undefined>;
  countHeld(connectionId: string, bytes: number, limits: Limits): Promise<HeldCount>;
  /** False when the deliverer skipped `seq` first (a tombstone is there): the frame is lost. */
  writeHeld(connectionId: string, seq: number, body: string, receivedAt: number): Promise<boolean>;
  listHeld(connectionId: string, range?: { after: number; upTo: number }): Promise<HeldFrame[]>;
  /** A tombstone for a frame counted but not written; false if the frame is there after all. */
  skipHeld(connectionId: string, seq: number): Promise<boolean>;
  claimHeld(
    connectionId: string,
    delivered: number,
    upTo: number,
    options?: { at?: number },
  ): Promise<boolean>;
  /** Marks the claim made at `at` abandoned: a retried delivery closes the pair. */
  abandonClaim(connectionId: string, at: number): Promise<void>;
  /** Gives back part of the bound while the claim made at `at` is still being posted. */
  releaseHeld(connectionId: string, at: number, released: HeldAmount): Promise<boolean>;
  finishHeld(
    connectionId: string,
    upTo: number,
    at: number,
    released: HeldAmount,
  ): Promise<boolean>;
  /**
   * finishHeld, and the direct path opened in the same write unless more than `slack` frames
   * were counted since; those few join the claim. Returns where the claim now ends, or
   * undefined when the path stays shut (more frames arrived, or the claim was lost).
   */
  handOver(
    connectionId: string,
    upTo: number,
    at: number,
    released: HeldAmount,
    slack: number,
  ): Promise<number | undefined>;
  markFlushed(connectionId: string, seq: number): Promise<boolean>;
  removeHeld(connectionId: string, seqs?: readonly number[]): Promise<void>;
}

/** The stage's introduction budget (store/budget.ts). */
export interface BudgetStore {
  /**
   * Takes `posts` from the introduction budget of the minute of `at` (ms), which allows
   * `perMinute` in all: false, and nothing taken, when the minute has no room for them.
   */
  spendIntroductions(posts: number, perMinute: number, at: number): Promise<boolean>;
}

/**
 * Everything the core keeps, in its parts: sockets, introduction peers, relay pairs, and the
 * stage's introduction budget. The core calls each part for its own items
 * (`ctx.store.peers.getPeer(…)`).
 */
export interface SignalStore {
  readonly connections: ConnectionStore;
  readonly peers: PeerStore;
  readonly relays: RelayStore;
  readonly budget: BudgetStore;
}

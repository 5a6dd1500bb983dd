/**
 * Everything the signal server keeps, in one DynamoDB table (TABLE_SCHEMA). No Scan anywhere:
 * every read is a GetItem, a BatchGetItem or a Query on one partition.
 *
 *   C#<connectionId> / C         a socket: what it asked for at $connect, and for a relay socket
 *                                its peer, its held-frame counters and whether it is flushed
 *   P#<peerId> / P               an introduction peer: its key set, current socket, all sockets
 *   K#<key> / P#<peerId>         index: which peers hold a key (checked against P# on read)
 *   R#<hash of key, ids> / R     rendezvous of a relay pair: the one socket waiting, if any
 *   H#<connectionId> / <seq>     a frame held for a relay socket whose peer is not ready
 *
 * Every item carries expiresAt (epoch seconds): the 2-hour connection limit plus a margin.
 * TTL deletion is lazy, so reads ignore expired items. Only single-item conditional writes are
 * used (no transactions), so dynalite, DynamoDB Local and DynamoDB behave alike.
 */
import { createHash } from 'node:crypto';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { MAX_CONNECTION_SECONDS, TTL_MARGIN_SECONDS, type Limits } from './limits.js';
import type { Transport } from './protocol.js';
import { TABLE_SCHEMA } from './schema.js';
import { mapLimit, sleep } from './util.js';

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
  /**
   * How many claimed frames were posted: below `delivered` while a deliverer is at work.
   * Unset on records claimed before it existed: then it equals `delivered`.
   */
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
}

export interface HeldFrame {
  seq: number;
  body: string;
  receivedAt: number;
}

export type RelayIdentity = Pick<RelayConnection, 'localId' | 'remoteId' | 'key'>;

/** Pairs with the waiting socket (and the transport it was marked with), or waits. */
export type Rendezvous =
  { paired: string; transport?: Transport } | { waiting: true; replaced?: string };

export type HoldResult =
  { held: number } | { flushed: RelayConnection } | { full: true } | { gone: true };

const { partitionKey: PK, sortKey: SK, timeToLiveAttribute: TTL } = TABLE_SCHEMA;

const connKey = (id: string) => ({ [PK]: `C#${id}`, [SK]: 'C' });
const peerKey = (id: string) => ({ [PK]: `P#${id}`, [SK]: 'P' });
const indexKey = (key: string, peerId: string) => ({ [PK]: `K#${key}`, [SK]: `P#${peerId}` });
const heldKey = (id: string, seq: number) => ({
  [PK]: `H#${id}`,
  [SK]: String(seq).padStart(10, '0'),
});

/** The rendezvous item of a pair and which side of it a socket takes. Hashed: keys stay small. */
function rendezvousKey(relay: RelayIdentity) {
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

export const isConditionFailure = (error: unknown): boolean =>
  (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException';

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

type Item = Record<string, unknown>;

export class SignalStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: () => number = Date.now,
  ) {}

  private nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Every record may outlive the longest connection by a margin, then TTL removes it. */
  private expiresAt(): number {
    return this.nowSeconds() + MAX_CONNECTION_SECONDS + TTL_MARGIN_SECONDS;
  }

  private live<T extends Item>(item: T | undefined): T | undefined {
    if (!item) return undefined;
    return (item[TTL] as number) > this.nowSeconds() ? item : undefined;
  }

  /** Runs a conditional write; false when its condition did not hold. */
  private async conditional(write: Promise<unknown>): Promise<boolean> {
    return (await this.ifConditionHolds(write)) !== undefined;
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

  // ---- connections -------------------------------------------------------------------------

  /**
   * Records a socket at $connect. A duplicate $connect for the same id changes nothing: false
   * then, true when the record was made now.
   */
  async putConnection(record: ConnectionRecord): Promise<boolean> {
    return this.conditional(
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...connKey(record.connectionId), ...record, [TTL]: this.expiresAt() },
          ConditionExpression: `attribute_not_exists(${PK})`,
        }),
      ),
    );
  }

  /**
   * A socket's record. `consistent: false` reads at half the cost, for callers that only need
   * what never changes after $connect (its kind) and can do without a record written just now.
   */
  async getConnection(id: string, consistent = true): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: connKey(id), ConsistentRead: consistent }),
    );
    return this.live(Item) as ConnectionRecord | undefined;
  }

  /** Removes a socket's record and returns what it was; undefined if it was already gone. */
  async removeConnection(id: string): Promise<ConnectionRecord | undefined> {
    const { Attributes } = await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: connKey(id), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes as ConnectionRecord | undefined;
  }

  // ---- introduction peers ------------------------------------------------------------------

  /** Makes `connectionId` the current socket of `peerId`, keeping the peer's keys. */
  async registerSocket(peerId: string, connectionId: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const refreshed = await this.conditional(
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: peerKey(peerId),
            UpdateExpression:
              'SET #current = :c, #ttl = :ttl, #session = if_not_exists(#session, :c), ' +
              '#keys = if_not_exists(#keys, :none), #version = if_not_exists(#version, :zero) ' +
              'ADD #sockets :cs',
            ConditionExpression: `attribute_not_exists(${PK}) OR #ttl > :now`,
            ExpressionAttributeNames: {
              '#current': 'current',
              '#session': 'session',
              '#keys': 'keys',
              '#version': 'version',
              '#sockets': 'sockets',
              '#ttl': TTL,
            },
            ExpressionAttributeValues: {
              ':c': connectionId,
              ':cs': new Set([connectionId]),
              ':none': [],
              ':zero': 0,
              ':ttl': this.expiresAt(),
              ':now': this.nowSeconds(),
            },
          }),
        ),
      );
      if (refreshed) return;
      // An expired record lingers (TTL is lazy): start the peer afresh.
      const replaced = await this.conditional(
        this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...peerKey(peerId),
              peerId,
              current: connectionId,
              sockets: new Set([connectionId]),
              session: connectionId,
              keys: [],
              version: 0,
              [TTL]: this.expiresAt(),
            },
            ConditionExpression: '#ttl <= :now',
            ExpressionAttributeNames: { '#ttl': TTL },
            ExpressionAttributeValues: { ':now': this.nowSeconds() },
          }),
        ),
      );
      if (replaced) return;
    }
    throw new Error(`could not register socket for peer ${peerId}`);
  }

  private toPeer(item: Item | undefined): PeerRecord | undefined {
    const live = this.live(item);
    if (!live) return undefined;
    return {
      peerId: (live[PK] as string).slice(2),
      current: live.current as string,
      sockets: [...((live.sockets as Set<string> | undefined) ?? [])],
      session: live.session as string,
      keys: live.keys as string[],
      version: live.version as number,
    };
  }

  async getPeer(peerId: string): Promise<PeerRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: peerKey(peerId), ConsistentRead: true }),
    );
    return this.toPeer(Item);
  }

  /** Reads many peers at once (BatchGetItem, 100 a request), skipping those gone or expired. */
  async getPeers(peerIds: readonly string[]): Promise<PeerRecord[]> {
    const peers: PeerRecord[] = [];
    for (const batch of chunks(peerIds, 100)) {
      let keys: Item[] = batch.map(peerKey);
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 20 * 2 ** attempt));
        const { Responses, UnprocessedKeys } = await this.db.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of Responses?.[this.tableName] ?? []) {
          const peer = this.toPeer(item);
          if (peer) peers.push(peer);
        }
        keys = (UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined) ?? [];
        if (attempt > 8 && keys.length) throw new Error('DynamoDB left keys unprocessed');
      }
    }
    return peers;
  }

  /**
   * Changes a peer's key set with optimistic concurrency: messages of one socket may be handled
   * concurrently, and no change may be lost. `change` returns the new set, or an error to report
   * (then nothing is written). `beforeWrite` runs before each attempt's write (e.g. to index the
   * keys joined). Undefined when the peer has no record.
   */
  async changeKeys(
    peerId: string,
    change: (keys: readonly string[]) => string[] | { error: string },
    beforeWrite?: (peer: PeerRecord, next: string[]) => Promise<void>,
  ): Promise<{ peer: PeerRecord; previous: string[] } | { error: string } | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const peer = await this.getPeer(peerId);
      if (!peer) return undefined;
      const next = change(peer.keys);
      if (!Array.isArray(next)) return next;
      await beforeWrite?.(peer, next);
      const written = await this.conditional(
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: peerKey(peerId),
            UpdateExpression: 'SET #keys = :keys, #version = :next',
            ConditionExpression: '#version = :version AND #ttl > :now',
            ExpressionAttributeNames: { '#keys': 'keys', '#version': 'version', '#ttl': TTL },
            ExpressionAttributeValues: {
              ':keys': next,
              ':version': peer.version,
              ':next': peer.version + 1,
              ':now': this.nowSeconds(),
            },
          }),
        ),
      );
      if (written)
        return {
          peer: { ...peer, keys: next, version: peer.version + 1 },
          previous: peer.keys,
        };
      if (attempt > 2) await sleep(Math.random() * 10 * attempt);
    }
    throw new Error(`key set of peer ${peerId} kept changing`);
  }

  /**
   * Indexes a peer under each key (BatchWriteItem, 25 a request), stamped with the session and
   * the key-set version that joined them, so that a Leave handled late removes no newer entry.
   */
  async indexKeys(
    peerId: string,
    session: string,
    keys: readonly string[],
    version = 0,
  ): Promise<void> {
    const expiresAt = this.expiresAt();
    await this.batchWrite(
      keys.map((key) => ({
        PutRequest: { Item: { ...indexKey(key, peerId), session, version, [TTL]: expiresAt } },
      })),
    );
  }

  /**
   * Removes a peer's index entries for keys it left at key-set `version`: only entries written
   * before that version (or in an older session), never those of a Join that came after.
   */
  async unindexKeys(
    peerId: string,
    session: string,
    keys: readonly string[],
    version: number,
  ): Promise<void> {
    await mapLimit(keys, 16, (key) =>
      this.conditional(
        this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: indexKey(key, peerId),
            ConditionExpression: '#session <> :session OR #version < :version',
            ExpressionAttributeNames: { '#session': 'session', '#version': 'version' },
            ExpressionAttributeValues: { ':session': session, ':version': version },
          }),
        ),
      ),
    );
  }

  /** The peer ids indexed under a key, at most `limit` of them. Stale entries are possible. */
  async peersWithKey(key: string, limit: number): Promise<string[]> {
    const items = await this.queryPartition(`K#${key}`, { liveOnly: true, keysOnly: true, limit });
    return items.map((item) => (item[SK] as string).slice(2));
  }

  /**
   * The items of one partition, read consistently page by page: only live ones (TTL not past),
   * only their sort keys, and at most `limit`, as asked.
   */
  private async queryPartition(
    pk: string,
    options: { liveOnly?: boolean; keysOnly?: boolean; limit?: number } = {},
  ): Promise<Item[]> {
    const { liveOnly = false, keysOnly = false, limit = Infinity } = options;
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: `${PK} = :pk`,
          ...(liveOnly
            ? { FilterExpression: '#ttl > :now', ExpressionAttributeNames: { '#ttl': TTL } }
            : {}),
          ...(keysOnly ? { ProjectionExpression: SK } : {}),
          ExpressionAttributeValues: {
            ':pk': pk,
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

  /**
   * Removes a socket from its peer. When it was the last one, the peer and its index entries
   * are removed (only those written in the peer's session, so a successor is never touched).
   * Returns the keys forgotten, or undefined when the peer lives on.
   */
  async unregisterSocket(peerId: string, connectionId: string): Promise<string[] | undefined> {
    const left = await this.ifConditionHolds(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: peerKey(peerId),
          UpdateExpression: 'DELETE #sockets :cs',
          ConditionExpression: 'contains(#sockets, :c)',
          ExpressionAttributeNames: { '#sockets': 'sockets' },
          ExpressionAttributeValues: { ':cs': new Set([connectionId]), ':c': connectionId },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    if (!left) return undefined; // a late or duplicate disconnect
    const remaining: Item | undefined = left.Attributes;
    const sockets = [...((remaining?.sockets as Set<string> | undefined) ?? [])];
    if (sockets.length > 0) {
      if (remaining?.current === connectionId) {
        // The newest socket closed while an older one is open: introductions go there now.
        await this.conditional(
          this.db.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: peerKey(peerId),
              UpdateExpression: 'SET #current = :next',
              ConditionExpression: '#current = :c',
              ExpressionAttributeNames: { '#current': 'current' },
              ExpressionAttributeValues: {
                ':next': sockets[sockets.length - 1],
                ':c': connectionId,
              },
            }),
          ),
        );
      }
      return undefined;
    }
    const deleted = await this.ifConditionHolds(
      this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: peerKey(peerId),
          ConditionExpression: 'attribute_not_exists(#sockets) AND #session = :session',
          ExpressionAttributeNames: { '#sockets': 'sockets', '#session': 'session' },
          ExpressionAttributeValues: { ':session': remaining?.session },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    if (!deleted) return undefined; // a new socket arrived meanwhile
    const removed: Item | undefined = deleted.Attributes;
    const keys = (removed?.keys as string[] | undefined) ?? [];
    await mapLimit(keys, 16, (key) =>
      this.conditional(
        this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: indexKey(key, peerId),
            ConditionExpression: '#session = :session',
            ExpressionAttributeNames: { '#session': 'session' },
            ExpressionAttributeValues: { ':session': removed?.session },
          }),
        ),
      ),
    );
    return keys;
  }

  // ---- relay pairs -------------------------------------------------------------------------

  /**
   * The rendezvous of a relay pair, atomic on one item: a socket either waits (replacing an
   * earlier waiting socket of the same side, which the caller closes) or claims the socket
   * waiting on the other side. Two sockets arriving at once make exactly one pairing.
   */
  async meet(
    relay: RelayIdentity & Pick<RelayConnection, 'transport'>,
    connectionId: string,
  ): Promise<Rendezvous> {
    const { key, side, other } = rendezvousKey(relay);
    // The waiting socket's transport rides beside it (`loTransport`), so the one that claims it
    // can refuse a mismatched pair without another read.
    const names = {
      '#side': side,
      '#other': other,
      '#ttl': TTL,
      '#sideTransport': `${side}Transport`,
      '#otherTransport': `${other}Transport`,
    };
    for (let attempt = 0; attempt < 10; attempt++) {
      const waiting = await this.ifConditionHolds(
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: key,
            UpdateExpression: relay.transport
              ? 'SET #side = :c, #sideTransport = :t, #ttl = :ttl REMOVE #other, #otherTransport'
              : 'SET #side = :c, #ttl = :ttl REMOVE #other, #otherTransport, #sideTransport',
            ConditionExpression: 'attribute_not_exists(#other) OR #ttl <= :now',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: {
              ':c': connectionId,
              ':ttl': this.expiresAt(),
              ':now': this.nowSeconds(),
              ...(relay.transport ? { ':t': relay.transport } : {}),
            },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
      if (waiting) {
        const old = waiting.Attributes;
        const replaced = old?.[side] as string | undefined;
        return replaced && replaced !== connectionId && this.live(old)
          ? { waiting: true, replaced }
          : { waiting: true };
      }
      const claimed = await this.ifConditionHolds(
        this.db.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: key,
            ConditionExpression: 'attribute_exists(#other) AND #ttl > :now',
            ExpressionAttributeNames: { '#other': other, '#ttl': TTL },
            ExpressionAttributeValues: { ':now': this.nowSeconds() },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
      if (claimed) {
        const transport = claimed.Attributes?.[`${other}Transport`] as Transport | undefined;
        return {
          paired: claimed.Attributes?.[other] as string,
          ...(transport ? { transport } : {}),
        };
      }
    }
    throw new Error('relay rendezvous kept changing');
  }

  /** Withdraws a waiting socket from its rendezvous, unless a successor has replaced it. */
  async leaveRendezvous(relay: RelayIdentity, connectionId: string): Promise<void> {
    const { key, side } = rendezvousKey(relay);
    await this.conditional(
      this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key,
          ConditionExpression: '#side = :c',
          ExpressionAttributeNames: { '#side': side },
          ExpressionAttributeValues: { ':c': connectionId },
        }),
      ),
    );
  }

  /** Records a socket's peer. Undefined when the socket's record is gone (it disconnected). */
  async setPeer(
    connectionId: string,
    peer: string,
    pairedAt: number,
    flushed: boolean,
  ): Promise<RelayConnection | undefined> {
    const updated = await this.ifConditionHolds(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: flushed
            ? 'SET peer = :p, pairedAt = :t, flushed = :yes'
            : 'SET peer = :p, pairedAt = :t',
          ConditionExpression: `attribute_exists(${PK}) AND #ttl > :now`,
          ExpressionAttributeNames: { '#ttl': TTL },
          ExpressionAttributeValues: {
            ':p': peer,
            ':t': pairedAt,
            ':now': this.nowSeconds(),
            ...(flushed ? { ':yes': true } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return updated?.Attributes as RelayConnection | undefined;
  }

  /**
   * Holds a frame for a socket that may not send straight to its peer yet. The counter update
   * is the gate: it fails once the socket is flushed (then the caller sends directly) or full.
   */
  async hold(
    connectionId: string,
    body: string,
    receivedAt: number,
    limits: Limits,
  ): Promise<HoldResult> {
    const bytes = Buffer.byteLength(body);
    let seq: number | undefined;
    if (bytes <= limits.maxHeldBytes) {
      const counted = await this.ifConditionHolds(
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: connKey(connectionId),
            UpdateExpression: 'ADD seq :one, held :one, heldBytes :bytes',
            ConditionExpression:
              `attribute_exists(${PK}) AND attribute_not_exists(flushed) AND ` +
              '(attribute_not_exists(held) OR held < :maxFrames) AND ' +
              '(attribute_not_exists(heldBytes) OR heldBytes <= :room)',
            ExpressionAttributeValues: {
              ':one': 1,
              ':bytes': bytes,
              ':maxFrames': limits.maxHeldFrames,
              ':room': limits.maxHeldBytes - bytes,
            },
            ReturnValues: 'UPDATED_NEW',
          }),
        ),
      );
      seq = counted?.Attributes?.seq as number | undefined;
    }
    if (seq === undefined) {
      const record = await this.getConnection(connectionId);
      if (!record || record.kind !== 'relay') return { gone: true };
      if (record.flushed) return { flushed: record };
      return { full: true };
    }
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...heldKey(connectionId, seq), body, receivedAt, [TTL]: this.expiresAt() },
      }),
    );
    return { held: seq };
  }

  /** The frames held for a socket, in sequence order. */
  async listHeld(connectionId: string): Promise<HeldFrame[]> {
    const items = await this.queryPartition(`H#${connectionId}`);
    return items.map((item) => ({
      seq: Number(item[SK]),
      body: item.body as string,
      receivedAt: item.receivedAt as number,
    }));
  }

  /**
   * Claims held frames (delivered, upTo] for delivery, so that two deliverers never both send.
   * The claim moves `delivered` from the value read to `upTo`, stamps the claim with `at` and
   * records that the frames up to `from` (default: `delivered`) are posted. `takeOver` (a dead
   * claim's claimedAt) re-claims from `from` a range whose deliverer died.
   */
  async claimHeld(
    connectionId: string,
    delivered: number,
    upTo: number,
    options: { from?: number; at?: number; takeOver?: number } = {},
  ): Promise<boolean> {
    const { from = delivered, at = this.clock(), takeOver } = options;
    return this.conditional(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: 'SET delivered = :upTo, sent = :from, claimedAt = :at',
          ConditionExpression:
            (delivered === 0 ? 'attribute_not_exists(delivered)' : 'delivered = :delivered') +
            (takeOver === undefined ? '' : ' AND claimedAt = :takeOver'),
          ExpressionAttributeValues: {
            ':upTo': upTo,
            ':from': from,
            ':at': at,
            ...(delivered === 0 ? {} : { ':delivered': delivered }),
            ...(takeOver === undefined ? {} : { ':takeOver': takeOver }),
          },
        }),
      ),
    );
  }

  /**
   * Records that every frame of the claim made at `at` up to `upTo` was posted, and releases
   * what they took of the held-frame bound: the bound is on frames held now, not ever.
   */
  async finishHeld(
    connectionId: string,
    upTo: number,
    at: number,
    released: { frames: number; bytes: number },
  ): Promise<boolean> {
    return this.conditional(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: 'SET sent = :upTo ADD held :frames, heldBytes :bytes',
          ConditionExpression: 'delivered = :upTo AND claimedAt = :at',
          ExpressionAttributeValues: {
            ':upTo': upTo,
            ':at': at,
            ':frames': -released.frames,
            ':bytes': -released.bytes,
          },
        }),
      ),
    );
  }

  /**
   * Opens the direct path once nothing more was held than `seq` and all of it was posted;
   * false if more arrived (or a deliverer is still posting).
   */
  async markFlushed(connectionId: string, seq: number): Promise<boolean> {
    return this.conditional(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: 'SET flushed = :yes',
          ConditionExpression:
            `attribute_exists(${PK}) AND ` +
            (seq === 0
              ? 'attribute_not_exists(seq)'
              : 'seq = :seq AND (attribute_not_exists(sent) OR sent = :seq)'),
          ExpressionAttributeValues: { ':yes': true, ...(seq === 0 ? {} : { ':seq': seq }) },
        }),
      ),
    );
  }

  /** Deletes held frames: the given sequence numbers, or all of them. */
  async removeHeld(connectionId: string, seqs?: readonly number[]): Promise<void> {
    const targets = seqs ?? (await this.listHeld(connectionId)).map((frame) => frame.seq);
    await this.batchWrite(
      targets.map((seq) => ({ DeleteRequest: { Key: heldKey(connectionId, seq) } })),
    );
  }

  private async batchWrite(requests: Item[]): Promise<void> {
    for (const batch of chunks(requests, 25)) {
      let pending: Item[] = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 20 * 2 ** attempt));
        if (attempt > 10) throw new Error('DynamoDB left writes unprocessed');
        const { UnprocessedItems } = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = UnprocessedItems?.[this.tableName] ?? [];
      }
    }
  }
}

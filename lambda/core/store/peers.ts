/**
 * Introduction peers (P#<peerId> / P: key set, current socket, all sockets) and the key index
 * (K#<key> / P#<peerId>: which peers hold a key, checked against P# on read).
 */
import { BatchGetCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Introduced, PeerRecord, PeerStore, Registration } from '../store.js';
import { mapLimit } from '../util.js';
import { and, EXPIRED, ITEM_ABSENT, LIVE, or } from './conditions.js';
import { chunks, indexKey, peerKey, PK, SK, TTL, type Item, type Table } from './table.js';

/** A peer may take one more socket: below the bound, or this socket is in its set already. */
const ROOM_FOR_SOCKET = or(
  'attribute_not_exists(#sockets)',
  'size(#sockets) < :max',
  'contains(#sockets, :c)',
);
/** The key set is still at the version read: no other change came first. */
const VERSION_READ = '#version = :version';
/** Index entries and the peer item belong to the session that wrote them. */
const SAME_SESSION = '#session = :session';

export class DynamoPeers implements PeerStore {
  constructor(private readonly table: Table) {}

  /**
   * Makes `connectionId` the current socket of `peerId`, keeping the peer's keys, in one attempt.
   * A peer may have at most `maxSockets` sockets: at the bound nothing is written, and the
   * sockets it has are returned (the caller makes room with `evictSocket`). 'raced' when another
   * change came between this attempt's writes: nothing was written, and the caller tries again.
   */
  async registerSocket(
    peerId: string,
    connectionId: string,
    maxSockets = Infinity,
  ): Promise<Registration> {
    const bounded = Number.isFinite(maxSockets);
    const refreshed = await this.table.holds(
      this.table.updateIf({
        Key: peerKey(peerId),
        UpdateExpression:
          'SET #current = :c, #ttl = :ttl, #session = if_not_exists(#session, :c), ' +
          '#keys = if_not_exists(#keys, :none), #version = if_not_exists(#version, :zero) ' +
          'ADD #sockets :cs',
        ConditionExpression: or(ITEM_ABSENT, bounded ? and(LIVE, ROOM_FOR_SOCKET) : LIVE),
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
          ':ttl': this.table.expiresAt(),
          ':now': this.table.nowSeconds(),
          ...(bounded ? { ':max': maxSockets } : {}),
        },
      }),
    );
    if (refreshed) return 'registered';
    // An expired record lingers (TTL is lazy): start the peer afresh.
    const replaced = await this.table.holds(
      this.table.putIf({
        Item: {
          ...peerKey(peerId),
          peerId,
          current: connectionId,
          sockets: new Set([connectionId]),
          session: connectionId,
          keys: [],
          version: 0,
          [TTL]: this.table.expiresAt(),
        },
        ConditionExpression: EXPIRED,
        ExpressionAttributeNames: { '#ttl': TTL },
        ExpressionAttributeValues: { ':now': this.table.nowSeconds() },
      }),
    );
    if (replaced) return 'registered';
    if (bounded) {
      const peer = await this.getPeer(peerId);
      if (peer && peer.sockets.length >= maxSockets && !peer.sockets.includes(connectionId))
        return { full: peer.sockets };
    }
    return 'raced';
  }

  /** Takes a socket out of its peer's set to make room, never removing the peer itself. */
  async evictSocket(peerId: string, connectionId: string): Promise<void> {
    await this.leaveSockets(peerId, connectionId);
  }

  /**
   * Takes a socket out of its peer's set if it is there, and out of the sockets whose Join
   * introduced it (so that set stays as small as the first); with ALL_NEW, the item as left.
   */
  private leaveSockets(peerId: string, connectionId: string, returnValues?: 'ALL_NEW') {
    return this.table.updateIf({
      Key: peerKey(peerId),
      UpdateExpression: 'DELETE #sockets :cs, #introduced :cs',
      ConditionExpression: 'contains(#sockets, :c)',
      ExpressionAttributeNames: { '#sockets': 'sockets', '#introduced': 'introducedSockets' },
      ExpressionAttributeValues: { ':cs': new Set([connectionId]), ':c': connectionId },
      ...(returnValues ? { ReturnValues: returnValues } : {}),
    });
  }

  private toPeer(item: Item | undefined): PeerRecord | undefined {
    const live = this.table.live(item);
    if (!live) return undefined;
    return {
      peerId: (live[PK] as string).slice(2),
      current: live.current as string,
      sockets: [...((live.sockets as Set<string> | undefined) ?? [])],
      session: live.session as string,
      keys: live.keys as string[],
      version: live.version as number,
      introducedSockets: [...((live.introducedSockets as Set<string> | undefined) ?? [])],
      ...(live.reintroducedAt === undefined
        ? {}
        : {
            reintroducedAt: live.reintroducedAt as number,
            reintroducedBy: live.reintroducedBy as string,
          }),
    };
  }

  async getPeer(peerId: string): Promise<PeerRecord | undefined> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.name, Key: peerKey(peerId), ConsistentRead: true }),
    );
    return this.toPeer(Item);
  }

  /**
   * Reads many peers at once (BatchGetItem, 100 a request, sending again what DynamoDB leaves
   * unprocessed), skipping those gone or expired.
   */
  async getPeers(peerIds: readonly string[]): Promise<PeerRecord[]> {
    const peers: PeerRecord[] = [];
    for (const batch of chunks(peerIds, 100))
      await this.table.untilProcessed<Item>(batch.map(peerKey), 10, 'keys', async (keys) => {
        const { Responses, UnprocessedKeys } = await this.table.db.send(
          new BatchGetCommand({
            RequestItems: { [this.table.name]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of Responses?.[this.table.name] ?? []) {
          const peer = this.toPeer(item);
          if (peer) peers.push(peer);
        }
        return (UnprocessedKeys?.[this.table.name]?.Keys as Item[] | undefined) ?? [];
      });
    return peers;
  }

  /**
   * Writes a peer's key set over the version read in `peer`: undefined (nothing written) when
   * another change came first or the record expired; the peer as written otherwise. A Join that
   * introduces records it in the same write (`introduced`): the re-introduction budget costs no
   * call of its own.
   */
  async setKeys(
    peer: PeerRecord,
    keys: string[],
    introduced?: Introduced,
  ): Promise<PeerRecord | undefined> {
    const written = await this.table.holds(
      this.table.updateIf({
        Key: peerKey(peer.peerId),
        UpdateExpression:
          'SET #keys = :keys, #version = :next' +
          (introduced ? ', #at = :at, #by = :by ADD #introduced :socket' : ''),
        ConditionExpression: and(VERSION_READ, LIVE),
        ExpressionAttributeNames: {
          '#keys': 'keys',
          '#version': 'version',
          '#ttl': TTL,
          ...(introduced
            ? {
                '#at': 'reintroducedAt',
                '#by': 'reintroducedBy',
                '#introduced': 'introducedSockets',
              }
            : {}),
        },
        ExpressionAttributeValues: {
          ':keys': keys,
          ':version': peer.version,
          ':next': peer.version + 1,
          ':now': this.table.nowSeconds(),
          ...(introduced
            ? {
                ':at': introduced.at,
                ':by': introduced.by,
                ':socket': new Set([introduced.socket]),
              }
            : {}),
        },
      }),
    );
    if (!written) return undefined;
    const next = { ...peer, keys, version: peer.version + 1 };
    if (!introduced) return next;
    return {
      ...next,
      introducedSockets: [...new Set([...peer.introducedSockets, introduced.socket])],
      reintroducedAt: introduced.at,
      reintroducedBy: introduced.by,
    };
  }

  /**
   * Indexes a peer under each key (BatchWriteItem, 25 a request), stamped with the session and
   * the key-set version that joined them, so that a Leave handled late removes no newer entry,
   * and with when they joined (ms), so that a large fan-out picks the most recent joiners.
   */
  async indexKeys(
    peerId: string,
    session: string,
    keys: readonly string[],
    version = 0,
  ): Promise<void> {
    const expiresAt = this.table.expiresAt();
    const joinedAt = this.table.clock();
    await this.table.batchWrite(
      keys.map((key) => ({
        PutRequest: {
          Item: { ...indexKey(key, peerId), session, version, joinedAt, [TTL]: expiresAt },
        },
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
      this.table.holds(
        this.table.deleteIf({
          Key: indexKey(key, peerId),
          ConditionExpression: or('#session <> :session', '#version < :version'),
          ExpressionAttributeNames: { '#session': 'session', '#version': 'version' },
          ExpressionAttributeValues: { ':session': session, ':version': version },
        }),
      ),
    );
  }

  /**
   * The peers indexed under a key with when they joined it, most recent first: every entry is
   * read (only its sort key and joinedAt), so the most recent are found among any number.
   * Stale entries are possible.
   */
  async joinersOfKey(key: string): Promise<{ peerId: string; joinedAt: number }[]> {
    const items = await this.table.queryPartition(`K#${key}`, {
      liveOnly: true,
      projection: [SK, 'joinedAt'],
    });
    return items
      .map((item) => ({
        peerId: (item[SK] as string).slice(2),
        joinedAt: item.joinedAt as number,
      }))
      .sort((a, b) => b.joinedAt - a.joinedAt);
  }

  /**
   * Removes a socket from its peer. When it was the last one, the peer and its index entries
   * are removed (only those written in the peer's session, so a successor is never touched).
   * Returns the keys forgotten, or undefined when the peer lives on.
   */
  async unregisterSocket(peerId: string, connectionId: string): Promise<string[] | undefined> {
    const left = await this.leaveSockets(peerId, connectionId, 'ALL_NEW');
    if (!left) return undefined; // a late or duplicate disconnect
    const remaining: Item | undefined = left.Attributes;
    const sockets = [...((remaining?.sockets as Set<string> | undefined) ?? [])];
    if (sockets.length > 0) {
      if (remaining?.current === connectionId) {
        // The newest socket closed while an older one is open: introductions go there now.
        await this.table.holds(
          this.table.updateIf({
            Key: peerKey(peerId),
            UpdateExpression: 'SET #current = :next',
            ConditionExpression: '#current = :c',
            ExpressionAttributeNames: { '#current': 'current' },
            ExpressionAttributeValues: {
              ':next': sockets[sockets.length - 1],
              ':c': connectionId,
            },
          }),
        );
      }
      return undefined;
    }
    const deleted = await this.table.deleteIf({
      Key: peerKey(peerId),
      ConditionExpression: and('attribute_not_exists(#sockets)', SAME_SESSION),
      ExpressionAttributeNames: { '#sockets': 'sockets', '#session': 'session' },
      ExpressionAttributeValues: { ':session': remaining?.session },
      ReturnValues: 'ALL_OLD',
    });
    if (!deleted) return undefined; // a new socket arrived meanwhile
    const removed: Item | undefined = deleted.Attributes;
    const keys = (removed?.keys as string[] | undefined) ?? [];
    await mapLimit(keys, 16, (key) =>
      this.table.holds(
        this.table.deleteIf({
          Key: indexKey(key, peerId),
          ConditionExpression: SAME_SESSION,
          ExpressionAttributeNames: { '#session': 'session' },
          ExpressionAttributeValues: { ':session': removed?.session },
        }),
      ),
    );
    return keys;
  }
}

/**
 * Relay pairs: the rendezvous (R#<hash of key, ids> / R: the one socket waiting, if any) and the
 * frames held for a socket whose peer is not ready (H#<connectionId> / <seq>), with their
 * counters on the socket's own item.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Limits } from '../limits.js';
import type { Transport } from '../protocol.js';
import type {
  HeldFrame,
  HoldResult,
  RelayConnection,
  RelayIdentity,
  RelayStore,
  Rendezvous,
} from '../store.js';
import { and, EXPIRED, ITEM_PRESENT, LIVE, or } from './conditions.js';
import type { DynamoConnections } from './connections.js';
import { connKey, heldKey, rendezvousKey, SK, TTL, type Table } from './table.js';

/** The other side of the rendezvous is empty, or is waiting. */
const NOBODY_WAITING = 'attribute_not_exists(#other)';
const SOMEONE_WAITING = 'attribute_exists(#other)';
/** Frames still go through the store: delivery has not opened the direct path. */
const NOT_FLUSHED = 'attribute_not_exists(flushed)';
/** The held-frame bounds leave room for one more frame of `:bytes`. */
const ROOM_FOR_FRAME = or('attribute_not_exists(held)', 'held < :maxFrames');
const ROOM_FOR_BYTES = or('attribute_not_exists(heldBytes)', 'heldBytes <= :room');
/** Every claimed frame was posted (records claimed before `sent` existed count as posted). */
/** No frame was counted since the claim up to `:upTo`. */
const NOTHING_HELD_SINCE = 'seq = :upTo';
const ALL_SENT = or('attribute_not_exists(sent)', 'sent = :seq');

export class DynamoRelays implements RelayStore {
  constructor(
    private readonly table: Table,
    private readonly connections: DynamoConnections,
  ) {}

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
      const waiting = await this.table.updateIf({
        Key: key,
        UpdateExpression: relay.transport
          ? 'SET #side = :c, #sideTransport = :t, #ttl = :ttl REMOVE #other, #otherTransport'
          : 'SET #side = :c, #ttl = :ttl REMOVE #other, #otherTransport, #sideTransport',
        ConditionExpression: or(NOBODY_WAITING, EXPIRED),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':c': connectionId,
          ':ttl': this.table.expiresAt(),
          ':now': this.table.nowSeconds(),
          ...(relay.transport ? { ':t': relay.transport } : {}),
        },
        ReturnValues: 'ALL_OLD',
      });
      if (waiting) {
        const old = waiting.Attributes;
        const replaced = old?.[side] as string | undefined;
        return replaced && replaced !== connectionId && this.table.live(old)
          ? { waiting: true, replaced }
          : { waiting: true };
      }
      const claimed = await this.table.deleteIf({
        Key: key,
        ConditionExpression: and(SOMEONE_WAITING, LIVE),
        ExpressionAttributeNames: { '#other': other, '#ttl': TTL },
        ExpressionAttributeValues: { ':now': this.table.nowSeconds() },
        ReturnValues: 'ALL_OLD',
      });
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
    await this.table.holds(
      this.table.deleteIf({
        Key: key,
        ConditionExpression: '#side = :c',
        ExpressionAttributeNames: { '#side': side },
        ExpressionAttributeValues: { ':c': connectionId },
      }),
    );
  }

  /** Records a socket's peer. Undefined when the socket's record is gone (it disconnected). */
  async setPeer(
    connectionId: string,
    peer: string,
    pairedAt: number,
    flushed: boolean,
  ): Promise<RelayConnection | undefined> {
    const updated = await this.table.updateIf({
      Key: connKey(connectionId),
      UpdateExpression: flushed
        ? 'SET peer = :p, pairedAt = :t, flushed = :yes'
        : 'SET peer = :p, pairedAt = :t',
      ConditionExpression: and(ITEM_PRESENT, LIVE),
      ExpressionAttributeNames: { '#ttl': TTL },
      ExpressionAttributeValues: {
        ':p': peer,
        ':t': pairedAt,
        ':now': this.table.nowSeconds(),
        ...(flushed ? { ':yes': true } : {}),
      },
      ReturnValues: 'ALL_NEW',
    });
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
    /** Runs the frame's own write, e.g. retrying it: its counter is taken already. */
    writeFrame: (write: () => Promise<unknown>) => Promise<unknown> = (write) => write(),
  ): Promise<HoldResult> {
    const bytes = Buffer.byteLength(body);
    let seq: number | undefined;
    if (bytes <= limits.maxHeldBytes) {
      const counted = await this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: 'ADD seq :one, held :one, heldBytes :bytes',
        ConditionExpression: and(ITEM_PRESENT, NOT_FLUSHED, ROOM_FOR_FRAME, ROOM_FOR_BYTES),
        ExpressionAttributeValues: {
          ':one': 1,
          ':bytes': bytes,
          ':maxFrames': limits.maxHeldFrames,
          ':room': limits.maxHeldBytes - bytes,
        },
        ReturnValues: 'UPDATED_NEW',
      });
      seq = counted?.Attributes?.seq as number | undefined;
    }
    if (seq === undefined) {
      const record = await this.connections.getConnection(connectionId);
      if (!record || record.kind !== 'relay') return { gone: true };
      if (record.flushed) return { flushed: record };
      return { full: true };
    }
    const item = { ...heldKey(connectionId, seq), body, receivedAt, [TTL]: this.table.expiresAt() };
    await writeFrame(() =>
      this.table.db.send(new PutCommand({ TableName: this.table.name, Item: item })),
    );
    return { held: seq };
  }

  /** The frames held for a socket, in sequence order. */
  async listHeld(connectionId: string): Promise<HeldFrame[]> {
    const items = await this.table.queryPartition(`H#${connectionId}`);
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
    const { from = delivered, at = this.table.clock(), takeOver } = options;
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: 'SET delivered = :upTo, sent = :from, claimedAt = :at',
        // The record must exist: a socket gone since the deliverer read it gets no new item.
        ConditionExpression: and(
          ITEM_PRESENT,
          delivered === 0 ? 'attribute_not_exists(delivered)' : 'delivered = :delivered',
          takeOver !== undefined && 'claimedAt = :takeOver',
        ),
        ExpressionAttributeValues: {
          ':upTo': upTo,
          ':from': from,
          ':at': at,
          ...(delivered === 0 ? {} : { ':delivered': delivered }),
          ...(takeOver === undefined ? {} : { ':takeOver': takeOver }),
        },
      }),
    );
  }

  /**
   * Records that every frame of the claim made at `at` up to `upTo` was posted, and releases
   * what they took of the held-frame bound: the bound is on frames held now, not ever.
   */
  finishHeld(
    connectionId: string,
    upTo: number,
    at: number,
    released: { frames: number; bytes: number },
  ): Promise<boolean> {
    return this.recordPosted(connectionId, upTo, at, released, false);
  }

  /** finishHeld, and the direct path opened in the same write when nothing was held since. */
  finishAndFlush(
    connectionId: string,
    upTo: number,
    at: number,
    released: { frames: number; bytes: number },
  ): Promise<boolean> {
    return this.recordPosted(connectionId, upTo, at, released, true);
  }

  private recordPosted(
    connectionId: string,
    upTo: number,
    at: number,
    released: { frames: number; bytes: number },
    flush: boolean,
  ): Promise<boolean> {
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: `SET sent = :upTo${flush ? ', flushed = :yes' : ''} ADD held :frames, heldBytes :bytes`,
        ConditionExpression: and(
          ITEM_PRESENT,
          'delivered = :upTo',
          'claimedAt = :at',
          flush && NOTHING_HELD_SINCE,
        ),
        ExpressionAttributeValues: {
          ':upTo': upTo,
          ':at': at,
          ...(flush ? { ':yes': true } : {}),
          ':frames': -released.frames,
          ':bytes': -released.bytes,
        },
      }),
    );
  }

  /**
   * Opens the direct path once nothing more was held than `seq` and all of it was posted;
   * false if more arrived (or a deliverer is still posting).
   */
  async markFlushed(connectionId: string, seq: number): Promise<boolean> {
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: 'SET flushed = :yes',
        ConditionExpression: and(
          ITEM_PRESENT,
          seq === 0 ? 'attribute_not_exists(seq)' : and('seq = :seq', ALL_SENT),
        ),
        ExpressionAttributeValues: { ':yes': true, ...(seq === 0 ? {} : { ':seq': seq }) },
      }),
    );
  }

  /** Deletes held frames: the given sequence numbers, or all of them. */
  async removeHeld(connectionId: string, seqs?: readonly number[]): Promise<void> {
    const targets = seqs ?? (await this.listHeld(connectionId)).map((frame) => frame.seq);
    await this.table.batchWrite(
      targets.map((seq) => ({ DeleteRequest: { Key: heldKey(connectionId, seq) } })),
    );
  }
}

/**
 * Relay pairs: the rendezvous (R#<hash of key, ids> / R: the one socket waiting, if any) and the
 * frames held for a socket whose peer is not ready (H#<connectionId> / <seq>), with their
 * counters on the socket's own item. A held-frame item may instead be a tombstone (`skipped`):
 * the deliverer gave up waiting for that frame, and its late write is refused.
 */
import { PAIRED_HOLD_FACTOR, type Limits } from '../limits.js';
import type { Transport } from '../protocol.js';
import type {
  HeldAmount,
  HeldFrame,
  HeldCount,
  RelayConnection,
  RelayIdentity,
  RelayStore,
  Rendezvous,
} from '../store.js';
import { and, EXPIRED, ITEM_ABSENT, ITEM_PRESENT, LIVE, or } from './conditions.js';
import type { DynamoConnections } from './connections.js';
import { connKey, heldKey, rendezvousKey, SK, TTL, type Table } from './table.js';

/** A held frame's write lands unless the deliverer has skipped its number (a tombstone). */
const NOT_SKIPPED = 'attribute_not_exists(skipped)';
/** The other side of the rendezvous is empty, or is waiting. */
const NOBODY_WAITING = 'attribute_not_exists(#other)';
const SOMEONE_WAITING = 'attribute_exists(#other)';
/** Frames still go through the store: delivery has not opened the direct path. */
const NOT_FLUSHED = 'attribute_not_exists(flushed)';
/** The socket's peer has arrived: the deliverer drains what it holds. */
const PAIRED = 'attribute_exists(peer)';
const UNPAIRED = 'attribute_not_exists(peer)';
/**
 * The held-frame bounds leave room for one more frame of `:bytes`: PAIRED_HOLD_FACTOR times
 * wider once the peer has arrived.
 */
const ROOM_FOR_FRAME = or(
  'attribute_not_exists(held)',
  and(UNPAIRED, 'held < :maxFrames'),
  and(PAIRED, 'held < :pairedMaxFrames'),
);
const ROOM_FOR_BYTES = or(
  'attribute_not_exists(heldBytes)',
  and(UNPAIRED, 'heldBytes <= :room'),
  and(PAIRED, 'heldBytes <= :pairedRoom'),
);
/** Every claimed frame was posted. */
const ALL_SENT = 'sent = :seq';
/** The claim made at `:at` is still the socket's: not abandoned, not taken over. */
const THIS_CLAIM = 'claimedAt = :at';
/** Gives back what posted frames took of the held-frame bound (values: `givenBack`). */
const GIVE_BACK = 'ADD held :frames, heldBytes :bytes';
const givenBack = (released: HeldAmount) => ({
  ':frames': -released.frames,
  ':bytes': -released.bytes,
});

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
   * Counts a frame of `bytes` to hold for a socket that may not send straight to its peer yet:
   * the number it is to be held under. The counter update is the gate: it fails once the socket
   * is flushed (then the caller sends directly) or full.
   */
  async countHeld(connectionId: string, bytes: number, limits: Limits): Promise<HeldCount> {
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
          ':pairedMaxFrames': limits.maxHeldFrames * PAIRED_HOLD_FACTOR,
          ':pairedRoom': limits.maxHeldBytes * PAIRED_HOLD_FACTOR - bytes,
        },
        ReturnValues: 'UPDATED_NEW',
      });
      seq = counted?.Attributes?.seq as number | undefined;
    }
    if (seq !== undefined) return { seq };
    const record = await this.connections.getConnection(connectionId);
    if (!record || record.kind !== 'relay') return { gone: true };
    if (record.flushed) return { flushed: record };
    return { full: true };
  }

  /**
   * Writes a counted frame under its number. False when the deliverer skipped the number first
   * (a tombstone is there): the frame is lost. Conditional, so a late write knows it lost; a
   * retry of a write whose answer was lost finds its own item, which is no tombstone.
   */
  writeHeld(connectionId: string, seq: number, body: string, receivedAt: number): Promise<boolean> {
    const item = { ...heldKey(connectionId, seq), body, receivedAt, [TTL]: this.table.expiresAt() };
    return this.table.holds(this.table.putIf({ Item: item, ConditionExpression: NOT_SKIPPED }));
  }

  /**
   * The frames held for a socket, in sequence order, tombstones included: all of them, or those
   * numbered `after` + 1 to `upTo` (one bounded query).
   */
  async listHeld(
    connectionId: string,
    range?: { after: number; upTo: number },
  ): Promise<HeldFrame[]> {
    const items = await this.table.queryPartition(`H#${connectionId}`, {
      ...(range && {
        between: [
          heldKey(connectionId, range.after + 1)[SK],
          heldKey(connectionId, range.upTo)[SK],
        ],
        limit: range.upTo - range.after,
      }),
    });
    return items.map((item) => ({
      seq: Number(item[SK]),
      body: (item.body as string | undefined) ?? '',
      receivedAt: (item.receivedAt as number | undefined) ?? 0,
      ...(item.skipped ? { skipped: true as const } : {}),
    }));
  }

  /**
   * Writes a tombstone where frame `seq` was counted but never written, so that its late write
   * fails (the writer then closes the pair). False if the frame is there after all.
   */
  skipHeld(connectionId: string, seq: number): Promise<boolean> {
    return this.table.holds(
      this.table.putIf({
        Item: { ...heldKey(connectionId, seq), skipped: true, [TTL]: this.table.expiresAt() },
        ConditionExpression: ITEM_ABSENT,
      }),
    );
  }

  /**
   * Claims held frames (delivered, upTo] for delivery, so that two deliverers never both send:
   * moves `delivered` from the value read to `upTo`, stamped with the claim's time `at`.
   */
  async claimHeld(
    connectionId: string,
    delivered: number,
    upTo: number,
    { at = this.table.clock() }: { at?: number } = {},
  ): Promise<boolean> {
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: 'SET delivered = :upTo, sent = :from, claimedAt = :at',
        // The record must exist: a socket gone since the deliverer read it gets no new item.
        ConditionExpression: and(
          ITEM_PRESENT,
          delivered === 0 ? 'attribute_not_exists(delivered)' : 'delivered = :delivered',
        ),
        ExpressionAttributeValues: {
          ':upTo': upTo,
          ':from': delivered,
          ':at': at,
          ...(delivered === 0 ? {} : { ':delivered': delivered }),
        },
      }),
    );
  }

  /**
   * Marks the claim made at `at` abandoned (its deliverer gave up mid-way and closes the pair),
   * so that a retried delivery closes the pair too instead of posting the claim again.
   */
  async abandonClaim(connectionId: string, at: number): Promise<void> {
    await this.table.updateIf({
      Key: connKey(connectionId),
      UpdateExpression: 'REMOVE claimedAt',
      ConditionExpression: and(ITEM_PRESENT, THIS_CLAIM),
      ExpressionAttributeValues: { ':at': at },
    });
  }

  /**
   * Gives back what frames of the claim made at `at` took of the held-frame bound, once they
   * were posted while the rest of the claim is still being posted: a sender that goes on sending
   * during a long batch is measured against the frames still waiting, not those already gone.
   * False when the claim is no longer this one (abandoned) or the socket is gone.
   */
  releaseHeld(connectionId: string, at: number, released: HeldAmount): Promise<boolean> {
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: GIVE_BACK,
        ConditionExpression: and(ITEM_PRESENT, THIS_CLAIM),
        ExpressionAttributeValues: {
          ':at': at,
          ...givenBack(released),
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
    released: HeldAmount,
  ): Promise<boolean> {
    return this.table.holds(
      this.table.updateIf({
        Key: connKey(connectionId),
        UpdateExpression: `SET sent = :upTo ${GIVE_BACK}`,
        ConditionExpression: and(ITEM_PRESENT, 'delivered = :upTo', THIS_CLAIM),
        ExpressionAttributeValues: {
          ':upTo': upTo,
          ':at': at,
          ...givenBack(released),
        },
      }),
    );
  }

  /**
   * finishHeld, and in the same write the direct path opened, unless more than `slack` frames
   * were counted past `upTo` meanwhile. Those few are claimed with it (`delivered` moves to
   * `seq`): returns how far the claim now reaches, or undefined when the path stays shut.
   */
  async handOver(
    connectionId: string,
    upTo: number,
    at: number,
    released: HeldAmount,
    slack: number,
  ): Promise<number | undefined> {
    const updated = await this.table.updateIf({
      Key: connKey(connectionId),
      UpdateExpression: `SET sent = :upTo, delivered = seq, flushed = :yes ${GIVE_BACK}`,
      ConditionExpression: and(ITEM_PRESENT, 'delivered = :upTo', THIS_CLAIM, 'seq <= :cap'),
      ExpressionAttributeValues: {
        ':upTo': upTo,
        ':at': at,
        ':cap': upTo + slack,
        ':yes': true,
        ...givenBack(released),
      },
      ReturnValues: 'UPDATED_NEW',
    });
    return updated?.Attributes?.delivered as number | undefined;
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

  /** Deletes held frames (tombstones too): the given sequence numbers, or all of them. */
  async removeHeld(connectionId: string, seqs?: readonly number[]): Promise<void> {
    const targets = seqs ?? (await this.listHeld(connectionId)).map((frame) => frame.seq);
    await this.table.batchWrite(
      targets.map((seq) => ({ DeleteRequest: { Key: heldKey(connectionId, seq) } })),
    );
  }
}

import {
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { PairCache } from '../../lambda/core/pair-cache.js';
import type { RelayConnection } from '../../lambda/core/store.js';
import {
  DELIVER_FUNCTION,
  TABLE,
  conditionFailed,
  connKey,
  connectEvent,
  connectionItem,
  disconnectEvent,
  gone,
  harness,
  liveUntil,
  messageEvent,
  type Harness,
} from '../support/harness.js';

afterEach(() => {
  vi.useRealTimers();
});

const relay = (connectionId: string, extra: Partial<RelayConnection> = {}): RelayConnection => ({
  kind: 'relay',
  connectionId,
  localId: 'a',
  remoteId: 'b',
  key: 'doc',
  connectedAt: 1,
  ...extra,
});

/** Socket r1 (a→b) paired with r2 (b→a) at `pairedAt`, flushed. */
function pairedR1(h: Harness, pairedAt: number) {
  h.db
    .on(GetCommand, { Key: connKey('r1') })
    .resolves({ Item: connectionItem(relay('r1', { peer: 'r2', pairedAt, flushed: true })) });
}

/** r2 is still inside its $connect: its record exists, it connected just now, and API Gateway answers 410. */
function peerConnecting(h: Harness) {
  h.db.on(GetCommand, { Key: connKey('r2') }).resolves({
    Item: connectionItem(
      relay('r2', { localId: 'b', remoteId: 'a', peer: 'r1', connectedAt: Date.now() }),
    ),
  });
}

const rendezvous = { Key: { sk: 'R' } };
const A_TO_B = { type: 'connection', localId: 'a', remoteId: 'b', key: 'doc' };

describe('relay sockets at $connect', () => {
  it('records the first socket of a pair and lets it wait', async () => {
    const h = harness();
    await expect(h.handlers.connect(connectEvent('r1', A_TO_B))).resolves.toEqual({
      statusCode: 200,
    });
    expect(h.db.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      ...connKey('r1'),
      kind: 'relay',
      localId: 'a',
      remoteId: 'b',
      key: 'doc',
    });
    // a < b: this socket takes the 'lo' side of the pair's rendezvous.
    expect(h.db.commandCalls(UpdateCommand, rendezvous)[0]?.args[0].input).toMatchObject({
      // A plain socket: no transport beside it, nor any left by a socket it replaces.
      UpdateExpression:
        'SET #side = :c, #ttl = :ttl REMOVE #other, #otherTransport, #sideTransport',
      ExpressionAttributeNames: {
        '#side': 'lo',
        '#other': 'hi',
        '#sideTransport': 'loTransport',
        '#otherTransport': 'hiTransport',
      },
      ExpressionAttributeValues: { ':c': 'r1' },
    });
    expect(h.closed()).toEqual([]);
    expect(h.lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('closes a waiting socket that a newer socket for the same pair replaces', async () => {
    const h = harness();
    h.db
      .on(UpdateCommand, rendezvous)
      .resolves({ Attributes: { lo: 'r0', expiresAt: liveUntil() } });
    await h.handlers.connect(connectEvent('r1', A_TO_B));
    expect(h.closed()).toEqual(['r0']);
  });

  it('pairs with the waiting socket and opens the direct path at once when nothing was held', async () => {
    const h = harness({ now: () => 5_000 });
    h.db.on(UpdateCommand, rendezvous).rejects(conditionFailed());
    h.db
      .on(DeleteCommand, rendezvous)
      .resolves({ Attributes: { hi: 'r2', expiresAt: liveUntil() } });
    h.db.on(UpdateCommand, { Key: connKey('r2') }).resolves({
      Attributes: connectionItem(relay('r2', { localId: 'b', remoteId: 'a', peer: 'r1' })),
    });

    await h.handlers.connect(connectEvent('r1', A_TO_B));

    const writes = h.db
      .commandCalls(UpdateCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.Key?.sk === 'C');
    expect(writes).toEqual([
      // The waiting socket learns its peer...
      expect.objectContaining({
        Key: connKey('r2'),
        UpdateExpression: 'SET peer = :p, pairedAt = :t',
        ExpressionAttributeValues: expect.objectContaining({ ':p': 'r1', ':t': 5_000 }) as unknown,
      }),
      // ...this socket has sent nothing yet, so it is flushed from the start...
      expect.objectContaining({
        Key: connKey('r1'),
        UpdateExpression: 'SET peer = :p, pairedAt = :t, flushed = :yes',
      }),
      // ...and the waiting one is flushed as long as it holds nothing.
      expect.objectContaining({
        Key: connKey('r2'),
        UpdateExpression: 'SET flushed = :yes',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(seq)',
      }),
    ]);
    expect(h.lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(h.emf[0]).toMatchObject({ PairsMade: 1, Connections: 1 });
  });

  it('hands held frames to the deliver function after pairing', async () => {
    const h = harness({ now: () => 5_000 });
    h.db.on(UpdateCommand, rendezvous).rejects(conditionFailed());
    h.db
      .on(DeleteCommand, rendezvous)
      .resolves({ Attributes: { hi: 'r2', expiresAt: liveUntil() } });
    h.db
      .on(UpdateCommand, { Key: connKey('r2') })
      .resolves({ Attributes: connectionItem(relay('r2', { peer: 'r1', seq: 3 })) });

    await h.handlers.connect(connectEvent('r1', A_TO_B));

    const [invoke] = h.lambda.commandCalls(InvokeCommand);
    expect(invoke?.args[0].input).toMatchObject({
      FunctionName: DELIVER_FUNCTION,
      InvocationType: 'Event',
    });
    expect(JSON.parse(Buffer.from(invoke!.args[0].input.Payload as Uint8Array).toString())).toEqual(
      {
        from: 'r2',
        to: 'r1',
        pairedAt: 5_000,
      },
    );
  });

  it('defers delivery when a frame was held between pairing and flushing', async () => {
    const h = harness();
    h.db.on(UpdateCommand, rendezvous).rejects(conditionFailed());
    h.db
      .on(DeleteCommand, rendezvous)
      .resolves({ Attributes: { hi: 'r2', expiresAt: liveUntil() } });
    h.db
      .on(UpdateCommand, { Key: connKey('r2') })
      .resolvesOnce({ Attributes: connectionItem(relay('r2', { peer: 'r1' })) })
      .rejects(conditionFailed()); // markFlushed: seq exists now
    await h.handlers.connect(connectEvent('r1', A_TO_B));
    expect(h.lambda.commandCalls(InvokeCommand)).toHaveLength(1);
  });

  it('waits in place of a waiting socket that left as it was claimed', async () => {
    const h = harness();
    h.db.on(UpdateCommand, rendezvous).rejectsOnce(conditionFailed()).resolves({});
    h.db
      .on(DeleteCommand, rendezvous)
      .resolves({ Attributes: { hi: 'r2', expiresAt: liveUntil() } });
    h.db.on(UpdateCommand, { Key: connKey('r2') }).rejects(conditionFailed());

    await h.handlers.connect(connectEvent('r1', A_TO_B));

    expect(h.db.commandCalls(UpdateCommand, rendezvous)).toHaveLength(2);
    expect(h.db.commandCalls(UpdateCommand, { Key: connKey('r1') })).toHaveLength(0);
    expect(h.emf[0]).not.toHaveProperty('PairsMade');
  });

  it('undoes a pairing whose $connect fails: the claimed socket is closed, this socket’s record removed', async () => {
    const h = harness();
    h.db.on(UpdateCommand, rendezvous).rejects(conditionFailed());
    h.db
      .on(DeleteCommand, rendezvous)
      .resolves({ Attributes: { hi: 'r2', expiresAt: liveUntil() } });
    h.db
      .on(UpdateCommand, { Key: connKey('r2') })
      .resolves({ Attributes: connectionItem(relay('r2', { peer: 'r1', seq: 1 })) });
    h.lambda.on(InvokeCommand).rejects(new Error('Rate exceeded'));

    await expect(h.handlers.connect(connectEvent('r1', A_TO_B))).rejects.toThrow('Rate exceeded');

    // No $disconnect will come for r1: r2 must not stay paired with it, holding frames for it.
    expect(h.closed()).toEqual(['r2']);
    expect(h.db.commandCalls(DeleteCommand, { Key: connKey('r1') })).toHaveLength(1);
    expect(h.logs.find((line) => line.level === 'error')?.message).toBe('handler failed');
  });

  it('withdraws a socket whose $connect fails after it started waiting', async () => {
    const h = harness();
    h.db
      .on(UpdateCommand, rendezvous)
      .resolves({ Attributes: { lo: 'r0', expiresAt: liveUntil() } });
    h.api.on(DeleteConnectionCommand).rejects(new Error('Internal'));

    await expect(h.handlers.connect(connectEvent('r1', A_TO_B))).rejects.toThrow('Internal');

    expect(h.db.commandCalls(DeleteCommand, { Key: connKey('r1') })).toHaveLength(1);
    expect(h.db.commandCalls(DeleteCommand, rendezvous)[0]?.args[0].input).toMatchObject({
      ConditionExpression: '#side = :c',
      ExpressionAttributeValues: { ':c': 'r1' },
    });
  });

  it('still fails the $connect, logging both, when undoing it fails too', async () => {
    const h = harness();
    h.db.on(UpdateCommand, rendezvous).rejects(new Error('DynamoDB down'));
    h.db.on(DeleteCommand).rejects(new Error('still down'));
    await expect(h.handlers.connect(connectEvent('r1', A_TO_B))).rejects.toThrow('DynamoDB down');
    expect(h.logs.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      'could not undo a failed relay $connect',
      'handler failed',
    ]);
  });
});

describe('relay frames', () => {
  it('sends a flushed socket’s frame straight to its peer, then serves the pair from the cache', async () => {
    const h = harness();
    pairedR1(h, Date.now() - 60_000);
    await h.handlers.message(messageEvent('r1', 'one'));
    await h.handlers.message(messageEvent('r1', 'two'));
    expect(h.posts()).toEqual([
      { to: 'r2', data: 'one' },
      { to: 'r2', data: 'two' },
    ]);
    // Steady state: one PostToConnection and no DynamoDB request per frame.
    expect(h.db.calls()).toHaveLength(1);
    expect(h.emf.at(-1)).toMatchObject({ FramesRelayed: 1 });
  });

  it('holds a frame in DynamoDB while the socket is not flushed', async () => {
    const h = harness();
    h.db.on(GetCommand, { Key: connKey('r1') }).resolves({ Item: connectionItem(relay('r1')) });
    h.db
      .on(UpdateCommand, { Key: connKey('r1') })
      .resolves({ Attributes: { seq: 7, heldBytes: 20 } });

    await h.handlers.message(messageEvent('r1', 'hello', 1234));

    expect(h.db.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'ADD seq :one, held :one, heldBytes :bytes',
      ExpressionAttributeValues: { ':one': 1, ':bytes': 5, ':maxFrames': 256 },
    });
    expect(h.db.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      pk: 'H#r1',
      sk: '0000000007',
      body: 'hello',
      receivedAt: 1234,
    });
    expect(h.posts()).toEqual([]);
    expect(h.emf[0]).toMatchObject({ FramesHeld: 1 });
  });

  it('sends directly when delivery finished between reading the socket and holding the frame', async () => {
    const h = harness();
    h.db
      .on(GetCommand, { Key: connKey('r1') })
      .resolvesOnce({ Item: connectionItem(relay('r1', { peer: 'r2', pairedAt: 1 })) })
      .resolves({
        Item: connectionItem(relay('r1', { peer: 'r2', pairedAt: 1, flushed: true, seq: 2 })),
      });
    h.db.on(UpdateCommand, { Key: connKey('r1') }).rejects(conditionFailed());

    await h.handlers.message(messageEvent('r1', 'late'));

    expect(h.posts()).toEqual([{ to: 'r2', data: 'late' }]);
    expect(h.db.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('closes a socket whose held frames would go over the limit, holding nothing more', async () => {
    const h = harness({ limits: { maxHeldBytes: 4 } });
    h.db.on(GetCommand, { Key: connKey('r1') }).resolves({ Item: connectionItem(relay('r1')) });
    await h.handlers.message(messageEvent('r1', 'too long'));
    expect(h.closed()).toEqual(['r1']);
    expect(h.db.commandCalls(PutCommand)).toHaveLength(0);
    expect(h.logs.find((line) => line.level === 'warn')).toMatchObject({
      message: 'held frames over the limit: socket closed',
      fields: { maxHeldBytes: 4, connectionId: 'r1' },
    });
  });

  it('closes a socket that has no record', async () => {
    const h = harness();
    await h.handlers.message(messageEvent('ghost', 'x'));
    expect(h.closed()).toEqual(['ghost']);
  });

  it('closes the sender and removes the peer’s stale records when the peer is gone', async () => {
    const h = harness();
    const pairedAt = Date.now() - PAIRING_GRACE_MS - 1;
    pairedR1(h, pairedAt);
    h.api.on(PostToConnectionCommand).rejects(gone());
    h.db.on(DeleteCommand, { Key: connKey('r2') }).resolves({
      Attributes: connectionItem(
        relay('r2', { localId: 'b', remoteId: 'a', peer: 'r1', pairedAt, seq: 1 }),
      ),
    });
    h.db.on(QueryCommand).resolves({ Items: [{ pk: 'H#r2', sk: '0000000001' }] });

    await h.handlers.message(messageEvent('r1', 'x'));

    expect(h.posts()).toHaveLength(1); // past the grace period: no retry
    expect(h.closed()).toEqual(['r1']); // closed once, not twice
    expect(h.db.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE]).toEqual([
      { DeleteRequest: { Key: { pk: 'H#r2', sk: '0000000001' } } },
    ]);
    expect(h.emf[0]).toMatchObject({ Gone: 1 });
    // The pair is no longer cached: the next frame reads the socket again.
    await h.handlers.message(messageEvent('r1', 'y'));
    expect(h.db.commandCalls(GetCommand)).toHaveLength(2);
  });

  it('closes the sender when the gone peer’s records were removed already', async () => {
    const h = harness();
    pairedR1(h, 1);
    h.api.on(PostToConnectionCommand).rejects(gone());
    await h.handlers.message(messageEvent('r1', 'x'));
    expect(h.closed()).toEqual(['r1']);
  });

  it('retries a 410 within the pairing grace period: the peer’s $connect may not have returned', async () => {
    vi.useFakeTimers();
    const h = harness();
    pairedR1(h, Date.now());
    peerConnecting(h);
    h.api.on(PostToConnectionCommand).rejectsOnce(gone()).rejectsOnce(gone()).resolves({});

    const handled = h.handlers.message(messageEvent('r1', 'early'));
    await vi.advanceTimersByTimeAsync(100);
    await handled;

    expect(h.posts()).toEqual([
      { to: 'r2', data: 'early' },
      { to: 'r2', data: 'early' },
      { to: 'r2', data: 'early' },
    ]);
    expect(h.closed()).toEqual([]);
  });

  it('treats a 410 that lasts past the grace period as gone', async () => {
    vi.useFakeTimers();
    const h = harness();
    pairedR1(h, Date.now());
    peerConnecting(h);
    h.api.on(PostToConnectionCommand).rejects(gone());

    const handled = h.handlers.message(messageEvent('r1', 'x'));
    await vi.advanceTimersByTimeAsync(PAIRING_GRACE_MS + 1_000);
    await handled;

    expect(h.closed()).toEqual(['r1']);
    expect(h.db.commandCalls(DeleteCommand, { Key: connKey('r2') })).toHaveLength(1);
  });

  it('does not retry a 410 within the grace period once the peer’s record is gone', async () => {
    vi.useFakeTimers();
    const h = harness();
    pairedR1(h, Date.now());
    h.api.on(PostToConnectionCommand).rejects(gone());

    const handled = h.handlers.message(messageEvent('r1', 'x'));
    await vi.advanceTimersByTimeAsync(0);
    await handled;

    expect(h.posts()).toHaveLength(1);
    expect(h.closed()).toEqual(['r1']);
  });

  it('closes both sockets on a 429 past its retries, never failing the invocation', async () => {
    // Each look at the clock moves it half a second on: the retry budget runs out quickly.
    let clock = 0;
    const h = harness({ now: () => (clock += 500) });
    pairedR1(h, 1);
    h.api.on(PostToConnectionCommand).rejects(
      Object.assign(new Error('Rate exceeded'), {
        name: 'LimitExceededException',
        $metadata: { httpStatusCode: 429 },
      }),
    );
    await expect(h.handlers.message(messageEvent('r1', 'x'))).resolves.toEqual({
      statusCode: 200,
    });
    expect(h.api.commandCalls(PostToConnectionCommand).length).toBeGreaterThan(1);
    expect(h.closed()).toEqual(['r1', 'r2']);
    expect(h.logs.at(-1)).toMatchObject({
      level: 'error',
      message: 'relay frame could not be passed on: closing the pair',
      fields: { connectionId: 'r1', route: '$default', requestId: 'msg-r1' },
    });
    expect(h.emf[0]).toMatchObject({ Errors: 1 });
  });
});

describe('deferred delivery of held frames', () => {
  const HAND_OVER =
    'SET sent = :upTo, delivered = seq, flushed = :yes ADD held :frames, heldBytes :bytes';
  const frame = (seq: number, body: string, receivedAt: number) => ({
    pk: 'H#r2',
    sk: String(seq).padStart(10, '0'),
    body,
    receivedAt,
    expiresAt: liveUntil(),
  });

  it('delivers held frames in order, removes them, then opens the direct path', async () => {
    const h = harness();
    const job = { from: 'r2', to: 'r1', pairedAt: Date.now() };
    h.db
      .on(GetCommand, { Key: connKey('r2') })
      .resolvesOnce({
        Item: connectionItem(relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 3 })),
      })
      .resolves({
        Item: connectionItem(
          relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 3, delivered: 3 }),
        ),
      });
    // Counted in one order, received by API Gateway in another: API Gateway's order wins.
    h.db
      .on(QueryCommand)
      .resolves({ Items: [frame(1, 'b', 20), frame(2, 'a', 10), frame(3, 'c', 20)] });
    h.db
      .on(UpdateCommand, {
        UpdateExpression: HAND_OVER,
      })
      .resolves({ Attributes: { delivered: 3 } });

    await h.handlers.deliver(job);

    expect(h.posts().map((post) => post.data)).toEqual(['a', 'b', 'c']);
    const writes = h.db.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(writes).toEqual([
      expect.objectContaining({
        UpdateExpression: 'SET delivered = :upTo, sent = :from, claimedAt = :at',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(delivered)',
        ExpressionAttributeValues: { ':upTo': 3, ':from': 0, ':at': expect.any(Number) as unknown },
      }),
      // Every claimed frame posted, and few enough held since: the direct path opens in the same
      // write, which claims those few too.
      expect.objectContaining({
        UpdateExpression:
          'SET sent = :upTo, delivered = seq, flushed = :yes ADD held :frames, heldBytes :bytes',
        ConditionExpression:
          'attribute_exists(pk) AND delivered = :upTo AND claimedAt = :at AND seq <= :cap',
        // What was posted no longer counts against the held-frame bound.
        ExpressionAttributeValues: expect.objectContaining({
          ':yes': true,
          ':frames': -3,
          ':bytes': -3,
        }) as unknown,
      }),
    ]);
    expect(
      h.db.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE],
    ).toHaveLength(3);
    expect(h.emf[0]).toMatchObject({ FramesDelivered: 3 });
  });

  it('waits for a frame whose number was taken but not yet written, with growing pauses, then skips it with a tombstone', async () => {
    vi.useFakeTimers();
    const h = harness();
    const job = { from: 'r2', to: 'r1', pairedAt: Date.now() };
    h.db.on(GetCommand, { Key: connKey('r2') }).resolves({
      Item: connectionItem(relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 2 })),
    });
    let skipped = false;
    h.db.on(PutCommand).callsFake(() => {
      skipped = true;
      return {};
    });
    const tombstone = { pk: 'H#r2', sk: '0000000001', skipped: true, expiresAt: liveUntil() };
    h.db.on(QueryCommand).callsFake(() => ({
      Items: skipped ? [tombstone, frame(2, 'second', 1)] : [frame(2, 'second', 1)],
    }));
    h.db
      .on(UpdateCommand, {
        UpdateExpression: 'SET delivered = :upTo, sent = :from, claimedAt = :at',
      })
      .callsFake(() => {
        // Once claimed, the socket reads as fully delivered.
        h.db.on(GetCommand, { Key: connKey('r2') }).resolves({
          Item: connectionItem(
            relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 2, delivered: 2 }),
          ),
        });
        return {};
      });
    h.db
      .on(UpdateCommand, {
        UpdateExpression: HAND_OVER,
      })
      .resolves({ Attributes: { delivered: 2 } });

    const delivered = h.handlers.deliver(job);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(h.posts()).toEqual([]); // frame 1 is due first: still waited for
    const reads = h.db.commandCalls(QueryCommand).length;
    expect(reads).toBeLessThanOrEqual(12); // pauses growing to 0.5 s, not one every 10 ms
    await vi.advanceTimersByTimeAsync(4_000);
    await delivered;

    expect(h.posts()).toEqual([{ to: 'r1', data: 'second' }]);
    expect(h.db.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      Item: { pk: 'H#r2', sk: '0000000001', skipped: true },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    for (const query of h.db.commandCalls(QueryCommand))
      expect(query.args[0].input.KeyConditionExpression).toBe(
        'pk = :pk AND sk BETWEEN :lo AND :hi',
      );
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'a held frame was not written in time: skipped (a late write closes the pair)',
        fields: expect.objectContaining({ seq: 1 }) as unknown,
      }),
    );
  });

  it('sends nothing when another deliverer claimed the frames first', async () => {
    const h = harness();
    const job = { from: 'r2', to: 'r1', pairedAt: Date.now() };
    h.db
      .on(GetCommand, { Key: connKey('r2') })
      .resolvesOnce({
        Item: connectionItem(relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 1 })),
      })
      .resolves({
        Item: connectionItem(
          relay('r2', { peer: 'r1', pairedAt: job.pairedAt, seq: 1, delivered: 1, flushed: true }),
        ),
      });
    h.db.on(QueryCommand).resolves({ Items: [frame(1, 'x', 1)] });
    h.db.on(UpdateCommand).rejects(conditionFailed());

    await h.handlers.deliver(job);

    expect(h.posts()).toEqual([]);
  });

  it('stops when the socket is closed or paired elsewhere', async () => {
    const h = harness();
    await h.handlers.deliver({ from: 'r2', to: 'r1', pairedAt: 1 });
    h.db.on(GetCommand).resolves({ Item: connectionItem(relay('r2', { peer: 'r9', seq: 1 })) });
    await h.handlers.deliver({ from: 'r2', to: 'r1', pairedAt: 1 });
    expect(h.posts()).toEqual([]);
    expect(h.db.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('closes the holding socket when the peer it delivers to is gone', async () => {
    const h = harness();
    const job = { from: 'r2', to: 'r1', pairedAt: 1 };
    h.db
      .on(GetCommand)
      .resolves({ Item: connectionItem(relay('r2', { peer: 'r1', pairedAt: 1, seq: 1 })) });
    h.db.on(QueryCommand).resolves({ Items: [frame(1, 'x', 1)] });
    h.api.on(PostToConnectionCommand).rejects(gone());

    await h.handlers.deliver(job);

    expect(h.closed()).toEqual(['r2']);
    expect(h.db.commandCalls(DeleteCommand, { Key: connKey('r1') })).toHaveLength(1);
  });

  it('logs and ignores an invocation that carries no delivery job', async () => {
    const h = harness();
    await expect(h.handlers.deliver({ from: 'r2' })).resolves.toBeUndefined();
    expect(h.logs).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'deliver invoked without a delivery job',
      }),
    ]);
    expect(h.db.calls()).toHaveLength(0);
  });
});

describe('relay sockets at $disconnect', () => {
  it('closes the peer of a paired socket and removes the frames it held', async () => {
    const h = harness();
    h.db.on(DeleteCommand, { Key: connKey('r1') }).resolves({
      Attributes: connectionItem(relay('r1', { peer: 'r2', pairedAt: 1, seq: 2 })),
    });
    h.db.on(QueryCommand).resolves({ Items: [{ sk: '0000000001' }, { sk: '0000000002' }] });

    await h.handlers.disconnect(disconnectEvent('r1'));

    expect(h.closed()).toEqual(['r2']);
    expect(h.db.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE]).toEqual([
      { DeleteRequest: { Key: { pk: 'H#r1', sk: '0000000001' } } },
      { DeleteRequest: { Key: { pk: 'H#r1', sk: '0000000002' } } },
    ]);
  });

  it('withdraws a waiting socket from its rendezvous, unless a successor replaced it', async () => {
    const h = harness();
    h.db
      .on(DeleteCommand, { Key: connKey('r1') })
      .resolves({ Attributes: connectionItem(relay('r1')) });
    await h.handlers.disconnect(disconnectEvent('r1'));
    expect(h.db.commandCalls(DeleteCommand, rendezvous)[0]?.args[0].input).toMatchObject({
      ConditionExpression: '#side = :c',
      ExpressionAttributeNames: { '#side': 'lo' },
      ExpressionAttributeValues: { ':c': 'r1' },
    });
    expect(h.closed()).toEqual([]);
  });

  it('forgets a closed socket’s cached pair, so its peer’s next frame is not sent to it', async () => {
    const h = harness();
    pairedR1(h, 1);
    await h.handlers.message(messageEvent('r1', 'one'));
    h.db.on(DeleteCommand, { Key: connKey('r2') }).resolves({
      Attributes: connectionItem(relay('r2', { peer: 'r1', pairedAt: 1 })),
    });
    await h.handlers.disconnect(disconnectEvent('r2'));
    h.db.on(GetCommand, { Key: connKey('r1') }).resolves({});
    await h.handlers.message(messageEvent('r1', 'two'));
    expect(h.posts()).toEqual([{ to: 'r2', data: 'one' }]);
  });
});

describe('PairCache', () => {
  it('drops the least recently set pair past its capacity', () => {
    const cache = new PairCache(2);
    cache.set('a', { peer: 'x', pairedAt: 1 });
    cache.set('b', { peer: 'y', pairedAt: 1 });
    cache.set('a', { peer: 'x', pairedAt: 1 });
    cache.set('c', { peer: 'z', pairedAt: 1 });
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual({ peer: 'x', pairedAt: 1 });
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
  });
});

import {
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { SOCKET_IDLE_SECONDS } from '../../lambda/core/limits.js';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
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
  peerItem,
  peerKey,
  type Harness,
} from '../support/harness.js';

/** Peer A on socket c-a, with keys `keys`, and a message handler ready to read them. */
function peerA(h: Harness, keys: string[] = [], version = 1) {
  h.db
    .on(GetCommand, { Key: connKey('c-a') })
    .resolves({ Item: connectionItem(intro('c-a', 'A')) });
  h.db.on(GetCommand, { Key: peerKey('A') }).resolves({
    Item: peerItem({
      peerId: 'A',
      current: 'c-a',
      sockets: ['c-a'],
      session: 'c-a',
      keys,
      version,
    }),
  });
}

const intro = (connectionId: string, peerId: string) => ({
  kind: 'introduction' as const,
  connectionId,
  peerId,
  connectedAt: 1,
});

/** The index answers `ids` for `key`. */
/** Index entries of a key, `ids` in the order they joined it. */
function indexed(h: Harness, key: string, ids: string[]) {
  h.db
    .on(QueryCommand, { ExpressionAttributeValues: { ':pk': `K#${key}` } })
    .resolves({ Items: ids.map((id, i) => ({ sk: `P#${id}`, joinedAt: i + 1 })) });
}

function peers(h: Harness, ...items: ReturnType<typeof peerItem>[]) {
  h.db.on(BatchGetCommand).resolves({ Responses: { [TABLE]: items } });
}

const parsed = (h: Harness) =>
  h.posts().map(({ to, data }) => ({ to, message: JSON.parse(data) as unknown }));

describe('introduction messages', () => {
  it('introduces both peers with the full list of shared keys, ordered as in the sender’s set', async () => {
    const h = harness();
    peerA(h, ['x']);
    indexed(h, 'k1', ['B']);
    indexed(h, 'k2', ['B', 'A']);
    peers(
      h,
      peerItem({
        peerId: 'B',
        current: 'c-b',
        sockets: ['c-b'],
        session: 'c-b',
        keys: ['k2', 'y', 'x', 'k1'],
      }),
    );

    await expect(
      h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k1","k2"]}')),
    ).resolves.toEqual({
      statusCode: 200,
    });

    expect(parsed(h)).toEqual([
      { to: 'c-b', message: { type: 'Introduction', id: 'A', keys: ['x', 'k1', 'k2'] } },
      { to: 'c-a', message: { type: 'Introduction', id: 'B', keys: ['x', 'k1', 'k2'] } },
    ]);
    // The key set was written with optimistic concurrency on its version.
    const [update] = h.db.commandCalls(UpdateCommand);
    expect(update?.args[0].input).toMatchObject({
      Key: peerKey('A'),
      ConditionExpression: '#version = :version AND #ttl > :now',
      ExpressionAttributeValues: { ':keys': ['x', 'k1', 'k2'], ':version': 1, ':next': 2 },
    });
    // The sender was indexed under what it joined, in its session and key-set version, before
    // looking.
    const [batch] = h.db.commandCalls(BatchWriteCommand);
    expect(batch?.args[0].input.RequestItems?.[TABLE]).toEqual([
      {
        PutRequest: {
          Item: {
            pk: 'K#k1',
            sk: 'P#A',
            session: 'c-a',
            version: 2,
            joinedAt: expect.any(Number) as unknown,
            expiresAt: expect.any(Number) as unknown,
          },
        },
      },
      {
        PutRequest: {
          Item: {
            pk: 'K#k2',
            sk: 'P#A',
            session: 'c-a',
            version: 2,
            joinedAt: expect.any(Number) as unknown,
            expiresAt: expect.any(Number) as unknown,
          },
        },
      },
    ]);
    expect(h.emf[0]).toMatchObject({ stage: 'test', Introductions: 2 });
  });

  it('sends one message per pair and direction, never one per key, and re-introduces on a repeated Join', async () => {
    const h = harness();
    peerA(h, ['k1', 'k2', 'k3']);
    for (const key of ['k1', 'k2', 'k3']) indexed(h, key, ['B', 'C']);
    peers(
      h,
      peerItem({
        peerId: 'B',
        current: 'c-b',
        sockets: ['c-b'],
        session: 'c-b',
        keys: ['k3', 'k1'],
      }),
      peerItem({ peerId: 'C', current: 'c-c', sockets: ['c-c'], session: 'c-c', keys: ['k2'] }),
    );

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k1","k2","k3"]}'));

    expect(parsed(h)).toHaveLength(4);
    expect(parsed(h)).toEqual(
      expect.arrayContaining([
        { to: 'c-b', message: { type: 'Introduction', id: 'A', keys: ['k1', 'k3'] } },
        { to: 'c-a', message: { type: 'Introduction', id: 'B', keys: ['k1', 'k3'] } },
        { to: 'c-c', message: { type: 'Introduction', id: 'A', keys: ['k2'] } },
        { to: 'c-a', message: { type: 'Introduction', id: 'C', keys: ['k2'] } },
      ]),
    );
    // One BatchGetItem for the candidates, however many keys named them, most recent first.
    expect(
      h.db.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.[TABLE]?.Keys,
    ).toEqual([peerKey('C'), peerKey('B')]);
  });

  it('introduces only peers that hold a joined key now, not those found through stale index entries', async () => {
    const h = harness();
    peerA(h, ['old']);
    indexed(h, 'k', ['B']);
    // B left k since (its index entry lingers) but shares another key with A.
    peers(
      h,
      peerItem({ peerId: 'B', current: 'c-b', sockets: ['c-b'], session: 'c-b', keys: ['old'] }),
    );

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k"]}'));

    expect(h.posts()).toEqual([]);
  });

  it('introduces nobody for a Leave or a Join of nothing', async () => {
    for (const body of ['{"type":"Leave","leave":["k"]}', '{"type":"Join","join":[]}', '{}']) {
      const h = harness();
      peerA(h, ['k']);
      await h.handlers.message(messageEvent('c-a', body));
      expect(h.posts()).toEqual([]);
      expect(h.db.commandCalls(QueryCommand)).toHaveLength(0);
      expect(h.db.commandCalls(BatchWriteCommand)).toHaveLength(0);
    }
  });

  it('answers bad input with an Error frame and changes nothing', async () => {
    const h = harness();
    peerA(h, ['k']);
    await h.handlers.message(messageEvent('c-a', 'not json'));
    await h.handlers.message(messageEvent('c-a', '{"join":[1]}'));
    expect(parsed(h)).toEqual([
      { to: 'c-a', message: { type: 'Error', error: 'message is not JSON' } },
      { to: 'c-a', message: { type: 'Error', error: 'every key in join must be a string' } },
    ]);
    expect(h.db.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(h.logs.some((line) => line.message === 'introduction message refused')).toBe(true);
    // Refusals are not handler errors.
    expect(h.logs.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('refuses a Join that would take the peer over its key limit, writing nothing', async () => {
    const h = harness({ limits: { maxKeysPerPeer: 2 } });
    peerA(h, ['a', 'b']);
    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["c"]}'));
    expect(parsed(h)).toEqual([
      { to: 'c-a', message: { type: 'Error', error: 'a peer may hold at most 2 keys' } },
    ]);
    expect(h.db.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('retries the key change when another message of the peer changed the set meanwhile', async () => {
    const h = harness();
    h.db
      .on(GetCommand, { Key: connKey('c-a') })
      .resolves({ Item: connectionItem(intro('c-a', 'A')) });
    const base = { peerId: 'A', current: 'c-a', sockets: ['c-a'], session: 'c-a' };
    h.db
      .on(GetCommand, { Key: peerKey('A') })
      .resolvesOnce({ Item: peerItem({ ...base, keys: [], version: 1 }) })
      .resolves({ Item: peerItem({ ...base, keys: ['other'], version: 2 }) });
    h.db
      .on(UpdateCommand, { Key: peerKey('A') })
      .rejectsOnce(conditionFailed())
      .resolves({});

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k"]}'));

    const writes = h.db
      .commandCalls(UpdateCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues);
    expect(writes).toEqual([
      expect.objectContaining({ ':keys': ['k'], ':version': 1 }),
      expect.objectContaining({ ':keys': ['other', 'k'], ':version': 2 }),
    ]);
  });

  it('registers the socket again when its peer record has expired or gone', async () => {
    const h = harness();
    h.db
      .on(GetCommand, { Key: connKey('c-a') })
      .resolves({ Item: connectionItem(intro('c-a', 'A')) });
    h.db
      .on(GetCommand, { Key: peerKey('A') })
      .resolvesOnce({
        Item: {
          ...peerItem({
            peerId: 'A',
            current: 'c-a',
            sockets: ['c-a'],
            session: 'c-a',
            keys: ['k'],
          }),
          expiresAt: 1,
        },
      })
      .resolves({
        Item: peerItem({
          peerId: 'A',
          current: 'c-a',
          sockets: ['c-a'],
          session: 'c-a',
          keys: [],
          version: 0,
        }),
      });

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k"]}'));

    const [register, change] = h.db.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(register?.UpdateExpression).toContain('ADD #sockets :cs');
    expect(register?.ExpressionAttributeValues?.[':cs']).toEqual(new Set(['c-a']));
    expect(change?.ExpressionAttributeValues).toMatchObject({ ':keys': ['k'], ':version': 0 });
  });

  it('removes the records of a peer socket that answers 410, as if it had disconnected', async () => {
    const h = harness();
    peerA(h);
    indexed(h, 'k', ['B']);
    peers(
      h,
      peerItem({ peerId: 'B', current: 'c-b', sockets: ['c-b'], session: 'c-b', keys: ['k'] }),
    );
    h.api.on(PostToConnectionCommand, { ConnectionId: 'c-b' }).rejects(gone());
    // B's last socket: unregistering it forgets B and its index entries.
    h.db
      .on(UpdateCommand, { Key: peerKey('B') })
      .resolves({ Attributes: { ...peerKey('B'), session: 'c-b' } });
    h.db.on(DeleteCommand, { Key: peerKey('B') }).resolves({
      Attributes: peerItem({
        peerId: 'B',
        current: 'c-b',
        sockets: [],
        session: 'c-b',
        keys: ['k'],
      }),
    });

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k"]}'));

    const deletes = h.db.commandCalls(DeleteCommand).map((call) => call.args[0].input);
    expect(deletes).toEqual([
      expect.objectContaining({ Key: connKey('c-b') }),
      expect.objectContaining({
        Key: peerKey('B'),
        ConditionExpression: 'attribute_not_exists(#sockets) AND #session = :session',
      }),
      expect.objectContaining({
        Key: { pk: 'K#k', sk: 'P#B' },
        ExpressionAttributeValues: { ':session': 'c-b' },
      }),
    ]);
    const unregister = h.db.commandCalls(UpdateCommand, { Key: peerKey('B') })[0]?.args[0].input;
    expect(unregister).toMatchObject({
      UpdateExpression: 'DELETE #sockets :cs, #introduced :cs',
      ConditionExpression: 'contains(#sockets, :c)',
    });
    expect(h.emf[0]).toMatchObject({ Gone: 1 });
    // The sender is not introduced to a peer that is gone (only the failed post to B was made).
    expect(parsed(h).map((post) => post.to)).toEqual(['c-b']);
  });

  it('introduces the maxFanOut peers that joined most recently and tells the sender', async () => {
    const h = harness({ limits: { maxFanOut: 2 } });
    peerA(h);
    indexed(h, 'k', ['B', 'C', 'D']);
    h.db
      .on(BatchGetCommand)
      .callsFake((input: { RequestItems: Record<string, { Keys: { pk: string }[] }> }) => ({
        Responses: {
          [TABLE]: input.RequestItems[TABLE]!.Keys.map(({ pk }) => {
            const id = pk.slice(2);
            return peerItem({
              peerId: id,
              current: `c-${id}`,
              sockets: [`c-${id}`],
              session: `c-${id}`,
              keys: ['k'],
            });
          }),
        },
      }));

    await h.handlers.message(messageEvent('c-a', '{"type":"Join","join":["k"]}'));

    // The whole index of the key is read, only each entry's peer id and when it joined.
    const query = h.db.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.Limit).toBeUndefined();
    expect(query?.ProjectionExpression).toBe('#p0, #p1');
    expect(query?.ExpressionAttributeNames).toMatchObject({ '#p0': 'sk', '#p1': 'joinedAt' });
    const messages = parsed(h);
    expect(
      messages
        .filter(({ to }) => to !== 'c-a')
        .map(({ to }) => to)
        .sort(),
    ).toEqual(['c-C', 'c-D']);
    expect(messages.at(-1)).toEqual({
      to: 'c-a',
      message: {
        type: 'Error',
        error:
          'more than 2 peers share these keys: introduced the 2 that joined them most recently; ' +
          'peers that join them later are introduced to this one in turn',
      },
    });
  });
});

describe('introduction sockets at $connect and $disconnect', () => {
  it('records the socket and makes it its peer id’s current one', async () => {
    const h = harness();
    await expect(
      h.handlers.connect(connectEvent('c-a', { type: 'introduction', localId: 'A' })),
    ).resolves.toEqual({ statusCode: 200 });
    const [put] = h.db.commandCalls(PutCommand);
    expect(put?.args[0].input).toMatchObject({
      Item: {
        ...connKey('c-a'),
        kind: 'introduction',
        peerId: 'A',
        expiresAt: expect.any(Number) as unknown,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    const [register] = h.db.commandCalls(UpdateCommand);
    expect(register?.args[0].input).toMatchObject({
      Key: peerKey('A'),
      ExpressionAttributeValues: { ':c': 'c-a', ':cs': new Set(['c-a']) },
    });
    expect(h.emf[0]).toMatchObject({ Connections: 1 });
  });

  it('keeps the peer and its keys when an older socket of the same id closes late', async () => {
    const h = harness();
    h.db
      .on(DeleteCommand, { Key: connKey('c-old') })
      .resolves({ Attributes: connectionItem(intro('c-old', 'A')) });
    // The newer socket is still registered: the peer lives on.
    h.db.on(UpdateCommand, { Key: peerKey('A') }).resolves({
      Attributes: {
        ...peerItem({
          peerId: 'A',
          current: 'c-new',
          sockets: ['c-new'],
          session: 'c-old',
          keys: ['k'],
        }),
      },
    });

    await h.handlers.disconnect(disconnectEvent('c-old'));

    expect(h.db.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(h.db.commandCalls(DeleteCommand, { Key: peerKey('A') })).toHaveLength(0);
  });

  it('ignores a duplicate $disconnect', async () => {
    const h = harness();
    h.db.on(DeleteCommand).resolves({});
    await expect(h.handlers.disconnect(disconnectEvent('c-a'))).resolves.toEqual({
      statusCode: 200,
    });
    expect(h.db.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(h.posts()).toEqual([]);
    expect(h.closed()).toEqual([]);
  });

  it('moves introductions to an older open socket when the newest one closes', async () => {
    const h = harness();
    h.db
      .on(DeleteCommand, { Key: connKey('c-new') })
      .resolves({ Attributes: connectionItem(intro('c-new', 'A')) });
    h.db
      .on(UpdateCommand, {
        Key: peerKey('A'),
        UpdateExpression: 'DELETE #sockets :cs, #introduced :cs',
      })
      .resolves({
        Attributes: {
          ...peerKey('A'),
          current: 'c-new',
          sockets: new Set(['c-old']),
          expiresAt: liveUntil(),
        },
      });

    await h.handlers.disconnect(disconnectEvent('c-new'));

    const moved = h.db.commandCalls(UpdateCommand)[1]?.args[0].input;
    expect(moved).toMatchObject({
      UpdateExpression: 'SET #current = :next',
      ConditionExpression: '#current = :c',
      ExpressionAttributeValues: { ':next': 'c-old', ':c': 'c-new' },
    });
  });
});

describe('the sockets-per-peer-id bound at $connect', () => {
  /** Peer A at the bound with sockets c1 and c2; registering c-new fails until room is made. */
  function fullPeer(h: Harness) {
    h.db
      .on(UpdateCommand, { Key: peerKey('A'), ExpressionAttributeValues: { ':c': 'c-new' } })
      .rejectsOnce(conditionFailed())
      .resolves({});
    h.db.on(PutCommand, { Item: { pk: 'P#A' } }).rejects(conditionFailed());
    h.db.on(GetCommand, { Key: peerKey('A') }).resolves({
      Item: peerItem({
        peerId: 'A',
        current: 'c2',
        sockets: ['c1', 'c2'],
        session: 'c1',
        keys: [],
      }),
    });
  }
  const lastActive = (h: Harness, connectionId: string, msAgo: number) =>
    h.api
      .on(GetConnectionCommand, { ConnectionId: connectionId })
      .resolves({ ConnectedAt: new Date(0), LastActiveAt: new Date(Date.now() - msAgo) });
  const connectNew = (h: Harness) =>
    h.handlers.connect(connectEvent('c-new', { type: 'introduction', localId: 'A' }));

  it('refuses the newcomer with 429 and closes nobody when every socket is active', async () => {
    const h = harness({ limits: { maxSocketsPerPeer: 2 } });
    fullPeer(h);
    lastActive(h, 'c1', 60_000);
    lastActive(h, 'c2', 1_000);
    const answer = await connectNew(h);
    expect(answer).toMatchObject({ statusCode: 429 });
    expect(answer.body).toContain('2 open introduction sockets, all active');
    expect(h.closed()).toEqual([]);
    // The refused socket never opens, so no $disconnect: its record goes now.
    expect(h.db.commandCalls(DeleteCommand, { Key: connKey('c-new') })).toHaveLength(1);
  });

  it('closes the socket idle longest past the keep-alive window to make room', async () => {
    const h = harness({ limits: { maxSocketsPerPeer: 2 } });
    fullPeer(h);
    lastActive(h, 'c1', (SOCKET_IDLE_SECONDS + 60) * 1000);
    lastActive(h, 'c2', 1_000);
    await expect(connectNew(h)).resolves.toEqual({ statusCode: 200 });
    expect(h.closed()).toEqual(['c1']);
    const evicted = h.db.commandCalls(UpdateCommand, {
      Key: peerKey('A'),
      ExpressionAttributeValues: { ':c': 'c1' },
    });
    expect(evicted).toHaveLength(1);
  });
});

/**
 * Joins under DynamoDB throttling, as after a reconnect storm (every peer of a busy key rejoins
 * within seconds of the two-hour cut), with cevitxe-signal-client@0.4.2 unchanged: the client
 * ignores Error frames, and reconnects and joins again only when its introduction socket closes.
 * The throttling is injected by a proxy between the gateway's real SDK client and the table:
 * every Query of the key's index partition is answered with ProvisionedThroughputExceeded. The
 * last case spends the stage's introduction budget instead (docs/protocol.md, "The introduction
 * budget"), as a Join flood would.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Peer } from 'cevitxe-signal-client';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_LIMITS, INTRODUCTION_BUDGET_SHARDS } from '../../lambda/core/limits.js';
import { DynamoBudget } from '../../lambda/core/store/budget.js';
import { budgetKey, Table } from '../../lambda/core/store/table.js';
import { LOCAL_AWS, startDynalite, type LocalDynamo } from '../../local/dynamodb.js';
import { startDynamoProxy, type DynamoProxy, type ProxiedCall } from '../support/dynamodb-proxy.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { stopClient } from '../support/cevitxe.js';

const globals = globalThis as { WebSocket?: unknown };

/** Resolves with the id of the first peer the client meets on `key`. */
function firstPeer(client: Client, key: string): Promise<string> {
  return new Promise((resolve) =>
    client.on('peer', (peer: Peer, met: string) => {
      if (met === key) resolve(peer.id);
    }),
  );
}

/** A Query of the index partition of `key` (the peers that hold it). */
const queriesIndexOf = (key: string) => (call: ProxiedCall) =>
  call.operation === 'Query' && JSON.stringify(call.body).includes(`"K#${key}"`);

/**
 * How many throttled answers fail one whole call of a DynamoDB client built as the runtime builds
 * it (the SDK's default retries; 4 attempts with SDK v3 here), counted at the proxy.
 */
async function attemptsPerCall(proxy: DynamoProxy): Promise<number> {
  const probe = new DynamoDBClient({ ...LOCAL_AWS, endpoint: proxy.endpoint });
  proxy.setRule((call) => (call.operation === 'ListTables' ? { throttle: true } : undefined));
  await expect(probe.send(new ListTablesCommand({}))).rejects.toThrow();
  proxy.setRule(undefined);
  probe.destroy();
  return proxy.throttled('ListTables');
}

describe.each(backends())('Joins under DynamoDB throttling on $name', (backend) => {
  let dynalite: LocalDynamo | undefined;
  let proxy: DynamoProxy;
  let gateway: TestGateway;
  let clients: Client[] = [];
  let previousWebSocket: unknown;
  let sdkAttempts: number;

  beforeAll(async () => {
    previousWebSocket = globals.WebSocket;
    globals.WebSocket = WebSocket;
    if (!backend.endpoint) dynalite = await startDynalite();
    proxy = await startDynamoProxy(backend.endpoint ?? dynalite!.endpoint);
    sdkAttempts = await attemptsPerCall(proxy);
    gateway = await startTestGateway({ name: backend.name, endpoint: proxy.endpoint });
  });
  afterAll(async () => {
    await gateway.close();
    await proxy.close();
    await dynalite?.close();
    globals.WebSocket = previousWebSocket;
  });
  afterEach(async () => {
    proxy.setRule(undefined);
    clients.forEach(stopClient);
    clients = [];
    await gateway.settled();
  });

  const client = (id: string) => {
    const created = new Client({ id, url: gateway.wsUrl('') });
    clients.push(created);
    return created;
  };

  /** The connection id of the first introduction socket of `peerId`, once its $connect ran. */
  async function introductionSocket(peerId: string): Promise<string> {
    const { event } = await gateway.event(
      'connect',
      (e) =>
        e.queryStringParameters?.type === 'introduction' &&
        e.queryStringParameters.localId === peerId,
    );
    return event.requestContext.connectionId;
  }

  /** Alice on `key`, her Join done; Bob's client is made, not yet joined. */
  async function aliceJoined(run: string, key: string) {
    const alice = client(`alice-${run}`);
    alice.join(key);
    await introductionSocket(alice.id);
    await gateway.event('message', (e) => (e.body ?? '').includes(key));
    await gateway.settled();
    return { alice, bob: client(`bob-${run}`) };
  }

  // The route's retry budget (JOIN_RETRY_MS, 6 s) is wall-clock, and the SDK's backoff over one
  // throttled call is random, up to 3.5 s: on a machine starved by the files running beside this
  // one (a CI run saw it), the rest of the Join can outlast the budget, and the close path (the
  // next case) takes over. Retried, so that only a retry that never serves the Join fails it.
  it(
    'retries a Join that DynamoDB throttles past the SDK’s retries, within the same message',
    { retry: 2, timeout: 30_000 },
    async () => {
      const run = randomUUID().slice(0, 8);
      const key = `busy-${run}`;
      const { alice, bob } = await aliceJoined(run, key);
      let throttled = 0;
      proxy.setRule((call) =>
        queriesIndexOf(key)(call) && throttled++ < sdkAttempts ? { throttle: true } : undefined,
      );
      const met = Promise.all([firstPeer(alice, key), firstPeer(bob, key)]);
      bob.join(key);

      expect(await met).toEqual([bob.id, alice.id]);
      expect(throttled).toBeGreaterThan(sdkAttempts);
      // Served by the retry: Bob's introduction socket was never closed.
      const bobSocket = await introductionSocket(bob.id);
      expect(
        gateway.events.some(
          (e) => e.route === 'disconnect' && e.event.requestContext.connectionId === bobSocket,
        ),
      ).toBe(false);
    },
  );

  it('closes the socket of a Join throttled past the route’s budget, and the unchanged client rejoins and meets its peer', async () => {
    const run = randomUUID().slice(0, 8);
    const key = `busy-${run}`;
    const { alice, bob } = await aliceJoined(run, key);
    proxy.setRule((call) => (queriesIndexOf(key)(call) ? { throttle: true } : undefined));
    const met = Promise.all([firstPeer(alice, key), firstPeer(bob, key)]);
    bob.join(key);

    // The throttling outlasts the route's budget: the server closes Bob's introduction socket.
    const firstSocket = await introductionSocket(bob.id);
    await gateway.event('disconnect', (e) => e.requestContext.connectionId === firstSocket, 20_000);
    expect(proxy.throttled('Query')).toBeGreaterThan(0);
    // The storm passes; the client reconnects (7.5 s later) and joins again.
    proxy.setRule(undefined);
    expect(await met).toEqual([bob.id, alice.id]);
  }, 60_000);

  /**
   * Spends the stage's introduction budget for this minute and the next two, as other joiners
   * would: every share of it taken through the store's own budget. Returns a function that frees
   * them again (as a later minute would).
   */
  async function spendIntroductionBudget(): Promise<() => Promise<void>> {
    const db = DynamoDBDocumentClient.from(
      new DynamoDBClient({ ...LOCAL_AWS, endpoint: gateway.dynamoDbEndpoint }),
    );
    const table = new Table(db, gateway.tableName, Date.now);
    const { introductionPostsPerMinute: perMinute } = DEFAULT_LIMITS;
    const minute = Math.floor(Date.now() / 60_000);
    const keys: ReturnType<typeof budgetKey>[] = [];
    for (const m of [0, 1, 2])
      for (let shard = 0; shard < INTRODUCTION_BUDGET_SHARDS; shard++) {
        const budget = new DynamoBudget(table, () => shard / INTRODUCTION_BUDGET_SHARDS);
        const at = (minute + m) * 60_000;
        // Whatever earlier Joins spent of it, the share is taken to its last post.
        for (let posts = perMinute / INTRODUCTION_BUDGET_SHARDS; posts >= 1;)
          if (!(await budget.spendIntroductions(posts, perMinute, at)))
            posts = Math.floor(posts / 2);
        keys.push(budgetKey('introductions', minute + m, shard));
      }
    return async () => {
      for (const Key of keys)
        await db.send(new DeleteCommand({ TableName: gateway.tableName, Key }));
      db.destroy();
    };
  }

  it('closes a joiner the spent introduction budget refuses, and the unchanged client rejoins and meets its peer once it has room', async () => {
    const run = randomUUID().slice(0, 8);
    const key = `busy-${run}`;
    const { alice, bob } = await aliceJoined(run, key);
    const free = await spendIntroductionBudget();
    const met = Promise.all([firstPeer(alice, key), firstPeer(bob, key)]);
    bob.join(key);

    // Refused: Bob's introduction socket is closed by the server, nobody was introduced.
    const firstSocket = await introductionSocket(bob.id);
    await gateway.event('disconnect', (e) => e.requestContext.connectionId === firstSocket, 20_000);
    expect(gateway.logs.some((line) => line.includes('introduction budget spent'))).toBe(true);
    // A later minute has room; the client reconnects (7.5 s later) and joins again.
    await free();
    expect(await met).toEqual([bob.id, alice.id]);
  }, 60_000);
});

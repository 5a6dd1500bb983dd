/**
 * A Join on a key that many peers share, against the route's 10 s timeout. The handlers run over
 * dynalite; the management API is modelled (testing/sockets.ts): each post waits `postMs` (a
 * PostToConnection from Lambda to API Gateway takes tens of milliseconds; the local gateway's take
 * well under one), so the figure is what the handler's own concurrency makes of that latency.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHandlers } from '../lambda/core/handlers.js';
import { INTRODUCTION_CONCURRENCY } from '../lambda/core/introduction.js';
import { DEFAULT_LIMITS } from '../lambda/core/limits.js';
import { createLogger } from '../lambda/core/log.js';
import { DynamoSignalStore } from '../lambda/core/store/dynamo.js';
import { mapLimit } from '../lambda/core/util.js';
import { LOCAL_AWS, ensureTable, startDynalite } from '../local/dynamodb.js';
import { recordKeys } from '../testing/peers.js';
import { MemorySockets } from '../testing/sockets.js';

export interface FanOutRun {
  /** Peers holding the key before the Join. */
  peers: number;
  /** The modelled latency of one post (ms). */
  postMs: number;
  /** Posts the Join made (an introduction each way per pair). */
  posts: number;
  /** Most posts in flight at once. */
  inFlight: number;
  /** Wall time of the Join's invocation (ms). */
  ms: number;
  /** Problems the handler logged (warn and error). */
  problems: string[];
}

export async function measureFanOut(
  options: { peers?: number; postMs?: number } = {},
  progress: (line: string) => void = () => undefined,
): Promise<FanOutRun> {
  const { peers = 1000, postMs = 75 } = options;
  const dynalite = await startDynalite();
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: dynalite.endpoint });
  try {
    await ensureTable(dynalite.endpoint, 'fanout');
    const db = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    const store = new DynamoSignalStore(db, 'fanout');
    const key = 'shared-document';
    progress(`fan-out: recording ${peers} peers on one key…`);
    // Recorded directly: joining each through the handlers would make peers² introductions.
    await mapLimit(
      Array.from({ length: peers }, (_, i) => `peer-${i}`),
      16,
      async (peerId) => {
        const connectionId = `c-${peerId}`;
        await store.connections.putConnection({
          kind: 'introduction',
          connectionId,
          peerId,
          connectedAt: 0,
        });
        await store.peers.registerSocket(peerId, connectionId);
        await recordKeys(store.peers, peerId, [key]);
      },
    );
    // The management API with a fixed latency per call; every recorded peer's socket is open.
    const sockets = new MemorySockets({ latencyMs: postMs, alwaysOpen: true });
    const problems: string[] = [];
    const handlers = createHandlers(
      {
        store,
        messenger: sockets,
        deliveryInvoker: { deliverLater: () => Promise.reject(new Error('no pairing here')) },
        limits: DEFAULT_LIMITS,
        now: Date.now,
      },
      { log: createLogger('warn', (level, message) => problems.push(`${level}: ${message}`)) },
    );
    const requestContext = (routeKey: string) => ({ routeKey, connectionId: 'c-joiner' });
    await handlers.connect({
      requestContext: requestContext('$connect'),
      queryStringParameters: { type: 'introduction', localId: 'joiner' },
    });
    progress(`fan-out: one Join meets ${peers} peers, ${postMs} ms per post…`);
    const started = performance.now();
    await handlers.message({
      requestContext: requestContext('$default'),
      body: JSON.stringify({ type: 'Join', join: [key] }),
    });
    const ms = performance.now() - started;
    return {
      peers,
      postMs,
      posts: sockets.posts.length,
      inFlight: sockets.mostPostsInFlight,
      ms,
      problems,
    };
  } finally {
    client.destroy();
    await dynalite.close();
  }
}

/** The lines the bench prints for a run. */
export function describeFanOut(run: FanOutRun): string[] {
  const sequential = (run.posts * run.postMs) / 1000;
  return [
    `A Join on a key held by ${run.peers} peers (default maxFanOut ${DEFAULT_LIMITS.maxFanOut}), each post taking ${run.postMs} ms (modelled): ` +
      `${run.posts} posts, at most ${run.inFlight} in flight (INTRODUCTION_CONCURRENCY ${INTRODUCTION_CONCURRENCY}), ` +
      `**${(run.ms / 1000).toFixed(2)} s** for the whole invocation, against the route's 10 s timeout ` +
      `(one post after another: ${sequential.toFixed(0)} s).`,
    ...(run.problems.length ? [`The handler logged: ${run.problems.slice(0, 3).join('; ')}`] : []),
  ];
}

/**
 * Held-frame delivery against the direct path, in the same run: one pair, the sender streaming
 * at a fixed rate, each post taking `postMs` (modelled by testing/sockets.ts: a PostToConnection
 * from Lambda takes tens of milliseconds; the local gateway's take well under one). The handlers
 * run over dynalite, the deliver function invoked in the background as Lambda's Event invocation
 * is.
 *
 * - direct: the pair is made (nothing held) before the stream starts;
 * - held: the stream starts before the peer connects, which it does after `before` frames, so
 *   those are held, the deliverer catches up with the stream and hands over to the direct path.
 *
 * Throughput is frames received over the time from the first frame sent to the last received.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeliveryJob } from '../lambda/core/delivery-invoker.js';
import { createHandlers, type Handlers } from '../lambda/core/handlers.js';
import { DEFAULT_LIMITS } from '../lambda/core/limits.js';
import { createLogger } from '../lambda/core/log.js';
import { DynamoSignalStore } from '../lambda/core/store/dynamo.js';
import { sleep } from '../lambda/core/util.js';
import { LOCAL_AWS, ensureTable, startDynalite } from '../local/dynamodb.js';
import { MemorySockets } from '../testing/sockets.js';

export interface HeldLoad {
  /** Frames the sender streams. */
  frames: number;
  /** Frames sent before the peer connects (held run). */
  before: number;
  /** The sender's rate, frames/s. */
  rate: number;
  /** The modelled latency of one post (ms). */
  postMs: number;
}

export const heldLoad = (quick: boolean): HeldLoad =>
  quick
    ? { frames: 200, before: 50, rate: 100, postMs: 20 }
    : { frames: 600, before: 100, rate: 100, postMs: 20 };

export interface StreamRun {
  received: number;
  /** Frames received more than once. */
  duplicates: number;
  closed: boolean;
  framesPerSecond: number;
  /** From the last frame sent to the last received (ms). */
  catchUpMs: number;
  /** Frames that went through the deliverer (held); the rest went straight. */
  held: number;
  /** The mean time a frame's `$default` invocation took (ms): DynamoDB's pace here, when held. */
  invocationMs: number;
}

export interface HeldRun {
  load: HeldLoad;
  direct: StreamRun;
  held: StreamRun;
  ratio: number;
  problems: string[];
}

/** One stream over a fresh pair: ra → rb, the peer arriving after `pairAfter` frames. */
async function stream(
  handlers: Handlers,
  sockets: MemorySockets,
  deliveries: Set<Promise<void>>,
  load: HeldLoad,
  run: string,
  pairAfter: number,
): Promise<StreamRun> {
  const [ra, rb] = [`ra-${run}`, `rb-${run}`];
  const relay = (id: string, localId: string, remoteId: string) =>
    handlers.connect({
      requestContext: { routeKey: '$connect', connectionId: id, connectedAt: Date.now() },
      queryStringParameters: { type: 'connection', localId, remoteId, key: run },
    });
  await relay(ra, `a-${run}`, `b-${run}`);
  if (pairAfter === 0) await relay(rb, `b-${run}`, `a-${run}`);
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    const tracked = work.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  const first = performance.now();
  let lastSent = first;
  let invocationMs = 0;
  for (let i = 0; i < load.frames; i++) {
    const due = first + (i * 1000) / load.rate;
    if (due > performance.now()) await sleep(due - performance.now());
    if (i === pairAfter && i > 0) track(relay(rb, `b-${run}`, `a-${run}`));
    const requestContext = {
      routeKey: '$default',
      connectionId: ra,
      requestTimeEpoch: Date.now(),
    };
    const started = performance.now();
    track(
      handlers
        .message({ requestContext, body: `${run}:${i}` })
        .finally(() => (invocationMs += performance.now() - started)),
    );
    lastSent = performance.now();
  }
  while (inFlight.size > 0 || deliveries.size > 0) await Promise.all([...inFlight, ...deliveries]);
  const got = sockets.posts.filter((arrival) => arrival.to === rb);
  const distinct = new Set(got.map((arrival) => arrival.data));
  const last = Math.max(...got.map((arrival) => arrival.at));
  return {
    received: distinct.size,
    duplicates: got.length - distinct.size,
    closed: sockets.closed.includes(ra) || sockets.closed.includes(rb),
    framesPerSecond: distinct.size / ((last - first) / 1000),
    catchUpMs: last - lastSent,
    held: 0,
    invocationMs: invocationMs / load.frames,
  };
}

/**
 * Each function on a DynamoDB client of its own, as each Lambda function has: the deliverer's
 * and the pairing's requests never queue behind the sender's many `$default` invocations.
 */
function functions(endpoint: string, sockets: MemorySockets, problems: string[]) {
  const clients: DynamoDBClient[] = [];
  const deliveries = new Set<Promise<void>>();
  const make = (deliverLater: (job: DeliveryJob) => Promise<void>) => {
    const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
    clients.push(client);
    const db = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    return createHandlers(
      {
        store: new DynamoSignalStore(db, 'held'),
        messenger: sockets,
        deliveryInvoker: { deliverLater },
        limits: DEFAULT_LIMITS,
        now: Date.now,
      },
      { log: createLogger('warn', (level, message) => problems.push(`${level}: ${message}`)) },
    );
  };
  const noInvoke = () => Promise.reject(new Error('only $connect invokes the deliver function'));
  const deliver = make(noInvoke);
  const connect = make((job) => {
    const run = deliver.deliver(job).finally(() => deliveries.delete(run));
    deliveries.add(run);
    return Promise.resolve();
  });
  const message = make(noInvoke);
  const handlers: Handlers = {
    ...message,
    connect: (event) => connect.connect(event),
    deliver: (job) => deliver.deliver(job),
  };
  return { handlers, deliveries, close: () => clients.forEach((client) => client.destroy()) };
}

export async function measureHeld(
  load: HeldLoad,
  progress: (line: string) => void = () => undefined,
): Promise<HeldRun> {
  const dynalite = await startDynalite();
  // The management API with a fixed latency per call (it records when each frame arrived).
  const sockets = new MemorySockets({ latencyMs: load.postMs, alwaysOpen: true });
  const problems: string[] = [];
  const { handlers, deliveries, close } = functions(dynalite.endpoint, sockets, problems);
  try {
    await ensureTable(dynalite.endpoint, 'held');
    progress(
      `held: direct path, ${load.frames} frames at ${load.rate}/s, ${load.postMs} ms per post…`,
    );
    const direct = await stream(handlers, sockets, deliveries, load, 'direct', 0);
    progress(`held: the peer arriving after ${load.before} frames…`);
    const held = await stream(handlers, sockets, deliveries, load, 'held', load.before);
    held.held = await heldCount(dynalite.endpoint, 'ra-held');
    return { load, direct, held, ratio: held.framesPerSecond / direct.framesPerSecond, problems };
  } finally {
    close();
    await dynalite.close();
  }
}

/** How many frames a socket ever held (its counter). */
async function heldCount(endpoint: string, connectionId: string): Promise<number> {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  try {
    const store = new DynamoSignalStore(DynamoDBDocumentClient.from(client), 'held');
    const record = await store.connections.getConnection(connectionId);
    return record?.kind === 'relay' ? (record.seq ?? 0) : 0;
  } finally {
    client.destroy();
  }
}

const describeRun = (name: string, run: StreamRun, frames: number) =>
  `${name}: ${run.received} of ${frames} frames received` +
  `${run.duplicates ? ` (${run.duplicates} twice)` : ''}, ${run.closed ? 'pair CLOSED' : 'pair open'}, ` +
  `**${run.framesPerSecond.toFixed(1)} frames/s**, last frame ${run.catchUpMs.toFixed(0)} ms after the last sent, ` +
  `a frame's $default ${run.invocationMs.toFixed(0)} ms on average`;

/** The lines the bench prints for a run. */
export function describeHeld(run: HeldRun): string[] {
  const { load } = run;
  return [
    `One pair, the sender streaming ${load.frames} frames at ${load.rate} frames/s, each post taking ${load.postMs} ms (modelled), over dynalite.`,
    `- ${describeRun('Direct path (paired before the stream)', run.direct, load.frames)}.`,
    `- ${describeRun(`Held (the peer arrives after ${load.before} frames)`, run.held, load.frames)}; ${run.held.held} frames went through the deliverer before it handed over.`,
    `- Held over direct: **${run.ratio.toFixed(2)}** (target ≥ 0.8).`,
    ...(run.problems.length ? [`The handlers logged: ${run.problems.slice(0, 3).join('; ')}`] : []),
  ];
}

/** Met when the held stream kept pace, lost nothing, sent nothing twice and stayed open. */
export const heldTargetMet = (run: HeldRun) =>
  run.ratio >= 0.8 &&
  !run.held.closed &&
  run.held.received === run.load.frames &&
  run.held.duplicates === 0;

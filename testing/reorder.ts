/**
 * How often a burst of frames on one relay socket arrives out of order, measured through the
 * local gateway, which (like API Gateway) runs the invocations of one connection concurrently.
 * Run by `npm run reorder` (scripts/reorder.ts), which prints the rates, and by
 * test/hardening/ordering.test.ts. Exactly once is guaranteed; order is not.
 *
 * For each burst size, every pair's first side sends bursts of frames back to back, and the
 * other side records the order they arrive in, two ways:
 *
 *   - direct: the pair is paired and flushed, frames go through the message handler straight to
 *     PostToConnection (the normal path);
 *   - held: the frames are sent before the peer connects, held in DynamoDB and delivered by the
 *     deliver function, sorted by requestTimeEpoch, then by the order they were counted.
 *
 * Per size it counts the share of bursts that arrived in any other order than sent, the share
 * of adjacent frame pairs that arrived swapped, where the swap happened (invocations started out
 * of order, or their posts overtook each other), and how many swapped pairs had different
 * requestTimeEpoch values (the only per-frame order API Gateway provides, in milliseconds): only
 * those could be put back in order by any server-side sequencer.
 */
import { randomUUID } from 'node:crypto';
import type { Handlers, WebSocketEvent } from '../lambda/core/handlers.js';
import { startGateway } from '../local/gateway/index.js';
import { inBatches } from './batches.js';
import { TestSocket } from './socket.js';

export interface ReorderOptions {
  pairs: number;
  sizes: number[];
  /** Bursts of each size per pair. */
  bursts: number;
  /**
   * A model, not a measurement: delays each message invocation by a random 0–jitter ms before it
   * runs, as Lambda's scheduling spreads invocations on AWS (warm instances vary by a few ms, a
   * cold start by hundreds). 0: the local gateway as it is.
   */
  jitterMs: number;
  /** Which paths to measure. */
  paths: ('direct' | 'held')[];
  dynamoDbEndpoint?: string;
}

export const DEFAULTS: ReorderOptions = {
  pairs: 10,
  sizes: [2, 5, 10, 25, 50, 100],
  bursts: 10,
  jitterMs: 0,
  paths: ['direct', 'held'],
};

export interface Row {
  path: 'direct' | 'held';
  size: number;
  bursts: number;
  frames: number;
  /** Bursts that arrived in another order than sent. */
  burstsReordered: number;
  /** Adjacent pairs (frame i, frame i+1 as sent) that arrived with i+1 first. */
  pairsSwapped: number;
  /** Of the swapped pairs: their invocations had started in the swapped order already. */
  swappedAtInvocation: number;
  /** Of the swapped pairs: their requestTimeEpoch differed (a sequencer could tell their order). */
  swappedWithDistinctTimes: number;
  /** Adjacent pairs (as sent) stamped with the same requestTimeEpoch millisecond. */
  pairsSameMillisecond: number;
  lostOrDuplicated: number;
}

interface Seen {
  start: number;
  time: number;
}

const frameId = (run: string, pair: number, size: number, burst: number, i: number) =>
  `${run}:${pair}:${size}:${burst}:${i}`;

export async function measureReorder(given: Partial<ReorderOptions> = {}): Promise<Row[]> {
  const options = { ...DEFAULTS, ...given };
  const run = randomUUID().slice(0, 8);
  // Every relay frame the message handler was handed: when its invocation started (a counter)
  // and its requestTimeEpoch.
  const seen = new Map<string, Seen>();
  let started = 0;
  const record = (handlers: Handlers): Handlers => ({
    ...handlers,
    message: async (event: WebSocketEvent) => {
      if (event.body?.startsWith(run))
        seen.set(event.body, {
          start: started++,
          time: event.requestContext.requestTimeEpoch ?? 0,
        });
      return handlers.message(event);
    },
  });
  const gateway = await startGateway({
    tableName: `reorder-${run}`,
    logLevel: 'error',
    logSink: () => undefined,
    wrapHandlers: record,
    invocationJitterMs: options.jitterMs,
    ...(options.dynamoDbEndpoint ? { dynamoDbEndpoint: options.dynamoDbEndpoint } : {}),
  });
  const clients: TestSocket[] = [];
  const open = async (path: string) => {
    const client = await TestSocket.open(gateway.wsUrl(path), {
      within: 30_000,
      perMessageDeflate: false,
      tagged: false,
    });
    clients.push(client);
    return client;
  };
  const rows: Row[] = [];
  try {
    for (const path of options.paths)
      for (const size of options.sizes) {
        const row: Row = {
          path,
          size,
          bursts: 0,
          frames: 0,
          burstsReordered: 0,
          pairsSwapped: 0,
          swappedAtInvocation: 0,
          swappedWithDistinctTimes: 0,
          pairsSameMillisecond: 0,
          lostOrDuplicated: 0,
        };
        await inBatches(
          Array.from({ length: options.pairs }, (_, pair) => pair),
          options.pairs,
          async (pair) => {
            const bursts = path === 'held' ? Math.min(options.bursts, 3) : options.bursts;
            for (let burst = 0; burst < bursts; burst++)
              tally(
                row,
                ...(await oneBurst({ run, open, gateway }, path, size, pair, burst)),
                seen,
              );
          },
        );
        rows.push(row);
      }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await gateway.close();
  }
  return rows;
}

/** What one burst needs: the run's name, a way to open sockets, and the gateway. */
interface BurstContext {
  run: string;
  open: (path: string) => Promise<TestSocket>;
  gateway: { settled(): Promise<void> };
}

/**
 * One burst of `size` frames from a fresh pair's first side, on the direct path (paired and
 * flushed first) or held (sent before the peer connects); returns what was sent and received.
 */
async function oneBurst(
  { run, open, gateway }: BurstContext,
  path: 'direct' | 'held',
  size: number,
  pair: number,
  burst: number,
): Promise<[sent: string[], received: string[]]> {
  const [A, B, key] = [`a${pair}-${run}`, `b${pair}-${run}`, `k${size}-${burst}-${path}`];
  const ids = Array.from({ length: size }, (_, i) => frameId(run, pair, size, burst, i));
  const a = await open(`/connection/${A}/${B}/${key}`);
  let b: TestSocket;
  if (path === 'direct') {
    b = await open(`/connection/${B}/${A}/${key}`);
    // Paired and flushed: one frame through, so the direct path is open.
    a.send('warm-up');
    await b.until('the warm-up frame', () => (b.received.length === 1 ? true : undefined), 30_000);
    b.received.length = 0;
    for (const id of ids) a.send(id);
  } else {
    for (const id of ids) a.send(id);
    await a.sync(30_000);
    await gateway.settled();
    b = await open(`/connection/${B}/${A}/${key}`);
  }
  await b.until(`a burst of ${size}`, () => (b.received.length >= size ? true : undefined), 30_000);
  await b.sync(30_000);
  await a.close();
  await b.closed;
  return [ids, b.received];
}

function tally(row: Row, sent: string[], received: string[], seen: Map<string, Seen>): void {
  row.bursts++;
  row.frames += sent.length;
  const position = new Map(received.map((id, i) => [id, i]));
  if (received.length !== sent.length || position.size !== sent.length)
    row.lostOrDuplicated += Math.abs(received.length - sent.length) || 1;
  if (received.some((id, i) => id !== sent[i])) row.burstsReordered++;
  for (let i = 0; i + 1 < sent.length; i++) {
    const [first, second] = [sent[i]!, sent[i + 1]!];
    const [x, y] = [seen.get(first), seen.get(second)];
    if (x && y && x.time === y.time) row.pairsSameMillisecond++;
    if ((position.get(first) ?? -1) < (position.get(second) ?? -1)) continue;
    row.pairsSwapped++;
    if (x && y && x.start > y.start) row.swappedAtInvocation++;
    if (x && y && x.time !== y.time) row.swappedWithDistinctTimes++;
  }
}

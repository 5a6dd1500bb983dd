/**
 * `npm run reorder`: how often a burst of frames on one relay socket arrives out of order,
 * measured through the local gateway, which (like API Gateway) runs the invocations of one
 * connection concurrently. Not a test: it prints rates; it exits 1 only if a frame is lost or
 * duplicated (exactly once is guaranteed; order is not).
 *
 * For each burst size, every pair's first side sends bursts of frames back to back, and the
 * other side records the order they arrive in, two ways:
 *
 *   - direct: the pair is paired and flushed, frames go through the message handler straight to
 *     PostToConnection (the normal path);
 *   - held: the frames are sent before the peer connects, held in DynamoDB and delivered by the
 *     deliver function, sorted by requestTimeEpoch, then by the order they were counted.
 *
 * Per size it prints the share of bursts that arrived in any other order than sent, the share
 * of adjacent frame pairs that arrived swapped, where the swap happened (invocations started out
 * of order, or their posts overtook each other), and how many swapped pairs had different
 * requestTimeEpoch values (the only per-frame order API Gateway provides, in milliseconds): only
 * those could be put back in order by any server-side sequencer.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Handlers, WebSocketEvent } from '../lambda/core/handlers.js';
import { startGateway } from '../local/gateway/index.js';
import { Client, inBatches } from './hardening/client.js';

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
  const clients: Client[] = [];
  const open = async (path: string) => {
    const client = await Client.open(gateway.wsUrl(path));
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
            for (
              let burst = 0;
              burst < (path === 'held' ? Math.min(options.bursts, 3) : options.bursts);
              burst++
            ) {
              const [A, B, key] = [
                `a${pair}-${run}`,
                `b${pair}-${run}`,
                `k${size}-${burst}-${path}`,
              ];
              const ids = Array.from({ length: size }, (_, i) =>
                frameId(run, pair, size, burst, i),
              );
              const a = await open(`/connection/${A}/${B}/${key}`);
              let b: Client;
              if (path === 'direct') {
                b = await open(`/connection/${B}/${A}/${key}`);
                // Paired and flushed: one frame through, so the direct path is open.
                a.send('warm-up');
                await b.until(() => b.received.length === 1, 30_000, 'the warm-up frame');
                b.received.length = 0;
                for (const id of ids) a.send(id);
              } else {
                for (const id of ids) a.send(id);
                await a.sync();
                await gateway.settled();
                b = await open(`/connection/${B}/${A}/${key}`);
              }
              await b.until(() => b.received.length >= size, 30_000, `a burst of ${size}`);
              await b.sync();
              tally(row, ids, b.received, seen);
              await a.close();
              await b.closed;
            }
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

const percent = (part: number, whole: number) =>
  whole === 0 ? '–' : `${((100 * part) / whole).toFixed(part && part * 1000 < whole ? 2 : 1)}%`;

export function formatRows(rows: Row[]): string {
  const header = [
    'path',
    'burst',
    'bursts',
    'bursts reordered',
    'adjacent pairs swapped',
    'swapped at invocation',
    'swapped, distinct ms',
    'adjacent pairs in same ms',
  ];
  const lines = rows.map((row) => {
    const pairs = row.bursts * (row.size - 1);
    return [
      row.path,
      String(row.size),
      String(row.bursts),
      percent(row.burstsReordered, row.bursts),
      `${percent(row.pairsSwapped, pairs)} (${row.pairsSwapped}/${pairs})`,
      String(row.swappedAtInvocation),
      String(row.swappedWithDistinctTimes),
      percent(row.pairsSameMillisecond, pairs),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const format = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join(
    '\n',
  );
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({
    options: {
      pairs: { type: 'string' },
      sizes: { type: 'string' },
      bursts: { type: 'string' },
      jitter: { type: 'string' },
      path: { type: 'string' },
      'dynamodb-endpoint': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(`Usage: npm run reorder -- [--pairs N] [--sizes 2,5,10] [--bursts N] [--jitter MS] [--path direct|held] [--dynamodb-endpoint URL]

Measures how often bursts of frames on one relay socket arrive out of order through the local
gateway (defaults: ${DEFAULTS.pairs} pairs, sizes ${DEFAULTS.sizes.join(',')}, ${DEFAULTS.bursts} bursts each; held path 3 bursts).
--jitter MS delays each message invocation by a random 0–MS ms first: a model of Lambda's
scheduling spread on AWS, which the local gateway (one event loop) does not have.`);
    return;
  }
  const whole = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const options: ReorderOptions = {
    pairs: values.pairs ? whole('pairs', values.pairs) : DEFAULTS.pairs,
    sizes: values.sizes
      ? values.sizes.split(',').map((size) => whole('sizes', size))
      : DEFAULTS.sizes,
    bursts: values.bursts ? whole('bursts', values.bursts) : DEFAULTS.bursts,
    jitterMs: values.jitter ? Number(values.jitter) : DEFAULTS.jitterMs,
    paths: values.path ? [values.path as 'direct' | 'held'] : DEFAULTS.paths,
    ...(values['dynamodb-endpoint'] ? { dynamoDbEndpoint: values['dynamodb-endpoint'] } : {}),
  };
  const startedAt = Date.now();
  const rows = await measureReorder(options);
  console.log(
    `reorder: ${options.pairs} pairs sending bursts at once through the local gateway, ` +
      `invocation jitter ${options.jitterMs ? `0–${options.jitterMs} ms (modelled)` : 'none'} ` +
      `(${Date.now() - startedAt} ms)\n`,
  );
  console.log(formatRows(rows));
  const lost = rows.reduce((sum, row) => sum + row.lostOrDuplicated, 0);
  if (lost > 0) {
    console.log(`\n✗ ${lost} frame(s) lost or duplicated`);
    process.exitCode = 1;
  } else console.log('\n✓ every frame delivered exactly once');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });

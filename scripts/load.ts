/**
 * `npm run load`: the signal server under load through the local gateway, checked for
 * correctness (not timed; never part of `npm test`, though test/hardening/load.test.ts runs it
 * small). One run:
 *
 *   1. opens hundreds of introduction sockets at once (default 200 peers), each joining 1–3 of
 *      tens of keys (default 20), all Joins at the same moment;
 *   2. checks that every pair of peers sharing a key was introduced both ways with exactly the
 *      keys they share, and that nobody else was introduced or got an Error;
 *   3. opens relay pairs among them (default 100): the first side sends a few frames before its
 *      peer arrives (held), then both sides send bursts (default 10 frames a side: 2,000 frames);
 *      checks that every frame arrived exactly once (order is reported, not required: see
 *      scripts/reorder.ts);
 *   4. closes one side of every pair and checks the server closes the other, closes the
 *      introduction sockets, and checks the table is empty (nothing leaked);
 *   5. prints its figures, memory (RSS and heap before, peak, after) included, and exits 1 on
 *      any violation.
 *
 * Loopback only: the gateway listens on 127.0.0.1, on dynalite in process unless
 * --dynamodb-endpoint names a DynamoDB API (e.g. DynamoDB Local). Bounded: counts are fixed and
 * the whole run fails after --timeout seconds.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb.js';
import { startGateway } from '../local/gateway/index.js';
import { random, seedFrom, type Random } from '../test/hardening/support/random.js';
import { Client, inBatches, MemorySampler, mib } from './hardening/client.js';

export interface LoadOptions {
  peers: number;
  keys: number;
  /** Relay pairs opened among the introduced peers. */
  pairs: number;
  /** Frames each side of a pair sends. */
  frames: number;
  /** Of those, how many the first side sends before its peer arrives (held). */
  held: number;
  seed: number;
  /** A DynamoDB API to use instead of an in-process dynalite. */
  dynamoDbEndpoint?: string;
  timeoutMs: number;
  /** Where progress lines go. @default nowhere */
  progress?: (line: string) => void;
}

export const DEFAULTS: LoadOptions = {
  peers: 200,
  keys: 20,
  pairs: 100,
  frames: 10,
  held: 3,
  seed: 0,
  timeoutMs: 300_000,
};

export interface LoadResult {
  figures: [string, string | number][];
  violations: string[];
}

interface Introduction {
  type: string;
  id?: string;
  keys?: string[];
  error?: string;
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && new Set(a).size === a.length && a.every((x) => b.includes(x));

/** A frame's text: who sent it, its number, and padding of a random length. */
const frameText = (rng: Random, pair: number, side: 'a' | 'b', n: number) =>
  JSON.stringify({ pair, side, n, pad: 'x'.repeat(rng.between(0, 2_000)) });

export async function runLoad(given: Partial<LoadOptions> = {}): Promise<LoadResult> {
  const options: LoadOptions = { ...DEFAULTS, ...given };
  const { peers: peerCount, keys: keyCount, pairs: pairCount, frames, held, timeoutMs } = options;
  if (held > frames) throw new Error('--held must not exceed --frames');
  const progress = options.progress ?? (() => undefined);
  const rng = random(options.seed);
  const violations: string[] = [];
  const figures: LoadResult['figures'] = [];
  const fail = (what: string) => {
    if (violations.length < 50) violations.push(what);
    else if (violations.length === 50) violations.push('… (more violations not listed)');
  };
  const timings: [string, number][] = [];
  let phaseStart = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    timings.push([name, now - phaseStart]);
    progress(`${name}: ${now - phaseStart} ms`);
    phaseStart = now;
  };
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1_000, deadline - Date.now());

  const run = randomUUID().slice(0, 8);
  let handlerErrors = 0;
  const memory = new MemorySampler();
  const gateway = await startGateway({
    tableName: `load-${run}`,
    ...(options.dynamoDbEndpoint ? { dynamoDbEndpoint: options.dynamoDbEndpoint } : {}),
    logLevel: 'warn',
    logSink: (level, message) => {
      if (level === 'error') {
        handlerErrors++;
        progress(`gateway error: ${message}`);
      }
    },
  });
  const sockets: Client[] = [];
  /**
   * Until the server has every frame these sockets sent (a ping after them came back), has
   * handled them all, and everything it sent them has arrived.
   */
  const quiet = async (clients: Client[]) => {
    await inBatches(clients, 50, (client) => client.sync(left()));
    await gateway.settled();
    await inBatches(clients, 50, (client) => client.sync(left()));
  };
  const open = async (path: string) => {
    const client = await Client.open(gateway.wsUrl(path), left());
    sockets.push(client);
    return client;
  };
  try {
    // ---- 1. introductions ------------------------------------------------------------------
    const keys = Array.from({ length: keyCount }, (_, i) => `doc-${i}-${run}`);
    const ids = Array.from({ length: peerCount }, (_, i) => `p${i}-${run}`);
    const keysOf = new Map(
      ids.map((id) => [id, rng.shuffle(keys).slice(0, rng.between(1, Math.min(3, keyCount)))]),
    );
    const peers = await inBatches(ids, 50, (id) => open(`/introduction/${id}`));
    phase('open introduction sockets');
    peers.forEach((peer, i) => peer.send({ type: 'Join', join: keysOf.get(ids[i]!) }));
    await quiet(peers);
    phase('join and introduce');

    // ---- 2. check every introduction -------------------------------------------------------
    let expected = 0;
    let received = 0;
    let duplicates = 0;
    const sharing: [string, string, string[]][] = [];
    ids.forEach((id, i) => {
      const mine = keysOf.get(id)!;
      const got = peers[i]!.received.map((frame) => JSON.parse(frame) as Introduction);
      received += got.length;
      const seen = new Map<string, number>();
      for (const message of got) {
        if (message.type !== 'Introduction' || !message.id) {
          fail(`${id} got ${message.type}: ${message.error ?? ''}`);
          continue;
        }
        const shared = mine.filter((key) => keysOf.get(message.id!)?.includes(key));
        if (shared.length === 0) fail(`${id} introduced to ${message.id}, sharing no key`);
        else if (!sameSet(message.keys ?? [], shared))
          fail(
            `${id} introduced to ${message.id} with keys ${(message.keys ?? []).join()} not ${shared.join()}`,
          );
        seen.set(message.id, (seen.get(message.id) ?? 0) + 1);
      }
      for (const other of ids) {
        if (other === id) continue;
        const shared = mine.filter((key) => keysOf.get(other)!.includes(key));
        if (shared.length === 0) continue;
        expected++;
        const times = seen.get(other) ?? 0;
        if (times === 0) fail(`${id} never introduced to ${other} (sharing ${shared.join()})`);
        duplicates += Math.max(0, times - 1);
        if (id < other) sharing.push([id, other, shared]);
      }
    });
    figures.push(
      ['peers (introduction sockets)', peerCount],
      ['keys', keyCount],
      ['introductions expected (pair × direction)', expected],
      ['introductions received', received],
      ['  of which repeated (allowed)', duplicates],
    );

    // ---- 3. relay pairs ----------------------------------------------------------------------
    const chosen = rng.shuffle(sharing).slice(0, pairCount);
    const firstSides = await inBatches(chosen, 50, ([p, q, shared]) =>
      open(`/connection/${p}/${q}/${shared[0]}`),
    );
    const sent = new Map<Client, string[]>();
    firstSides.forEach((socket, pair) => {
      const texts = Array.from({ length: held }, (_, n) => frameText(rng, pair, 'a', n));
      texts.forEach((text) => socket.send(text));
      sent.set(socket, texts);
    });
    await quiet(firstSides);
    phase('open first relay sides, hold frames');
    const secondSides = await inBatches(chosen, 50, ([p, q, shared]) =>
      open(`/connection/${q}/${p}/${shared[0]}`),
    );
    phase('open second relay sides (pairing)');
    chosen.forEach((_, pair) => {
      const a = firstSides[pair]!;
      const b = secondSides[pair]!;
      const aTexts = Array.from({ length: frames - held }, (_, n) =>
        frameText(rng, pair, 'a', held + n),
      );
      const bTexts = Array.from({ length: frames }, (_, n) => frameText(rng, pair, 'b', n));
      aTexts.forEach((text) => a.send(text));
      bTexts.forEach((text) => b.send(text));
      sent.get(a)!.push(...aTexts);
      sent.set(b, bTexts);
    });
    const receivers = chosen.flatMap((_, pair) => [
      [secondSides[pair]!, firstSides[pair]!] as const,
      [firstSides[pair]!, secondSides[pair]!] as const,
    ]);
    await Promise.all(
      receivers.map(([to, from]) =>
        to
          .until(() => to.received.length >= sent.get(from)!.length, left(), 'relayed frames')
          .catch((error: Error) => fail(error.message)),
      ),
    );
    await quiet([...firstSides, ...secondSides]);
    phase('relay frames');

    let framesSent = 0;
    let framesReceived = 0;
    let reordered = 0;
    for (const [to, from] of receivers) {
      const expectedTexts = sent.get(from)!;
      framesSent += expectedTexts.length;
      framesReceived += to.received.length;
      const want = new Map<string, number>();
      for (const text of expectedTexts) want.set(text, (want.get(text) ?? 0) + 1);
      for (const text of to.received) {
        const left = want.get(text) ?? 0;
        if (left === 0) fail(`a frame arrived twice or unsent: ${text.slice(0, 40)}`);
        else want.set(text, left - 1);
      }
      for (const [text, count] of want)
        if (count > 0) fail(`a frame never arrived: ${text.slice(0, 40)}`);
      const order = to.received.map((text) => (JSON.parse(text) as { n: number }).n);
      for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) reordered++;
    }
    figures.push(
      ['relay pairs', chosen.length],
      ['frames sent (held before pairing + after)', framesSent],
      ['  of which held before pairing', chosen.length * held],
      ['frames received', framesReceived],
      ['frames received out of send order (not a violation)', reordered],
    );

    // ---- 4. close: the server closes the other side; nothing is left ------------------------
    await Promise.all(firstSides.map((socket) => socket.close()));
    await Promise.all(
      secondSides.map((socket) =>
        socket
          .until(() => socket.closedWith !== undefined, left(), 'the server to close a peer')
          .catch((error: Error) => fail(error.message)),
      ),
    );
    const closedBy1000 = secondSides.filter((socket) => socket.closedWith?.code === 1000).length;
    if (closedBy1000 !== secondSides.length)
      fail(`${secondSides.length - closedBy1000} second sides not closed with 1000`);
    await Promise.all(peers.map((peer) => peer.close()));
    await gateway.settled();
    phase('close everything');
    const leftover = await countItems(gateway.dynamoDbEndpoint, gateway.tableName);
    for (const [prefix, count] of Object.entries(leftover))
      fail(`${count} ${prefix} items left in the table after every socket closed`);
    figures.push(['table items left after closing', sumOf(leftover)]);
  } catch (error) {
    fail(`run failed: ${(error as Error).message}`);
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()));
    await gateway.close();
  }
  if (handlerErrors > 0) fail(`${handlerErrors} handler errors logged`);
  const after = memory.stop();
  figures.push(['handler errors', handlerErrors]);
  for (const [name, ms] of timings) figures.push([`time: ${name}`, `${ms} ms`]);
  figures.push(
    ['memory before: RSS / heap', `${mib(memory.before.rss)} / ${mib(memory.before.heapUsed)}`],
    ['memory peak: RSS / heap', `${mib(memory.peakRss)} / ${mib(memory.peakHeap)}`],
    ['memory after (gateway closed): RSS / heap', `${mib(after.rss)} / ${mib(after.heapUsed)}`],
  );
  return { figures, violations };
}

const sumOf = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Items left in the table, by kind (C#, P#, K#, R#, H#). A script may scan; the product never does. */
async function countItems(endpoint: string, tableName: string): Promise<Record<string, number>> {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const counts: Record<string, number> = {};
  try {
    let start: Record<string, never> | undefined;
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: tableName,
          ProjectionExpression: 'pk',
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const prefix = `${(item.pk?.S ?? '?').split('#')[0]}#`;
        counts[prefix] = (counts[prefix] ?? 0) + 1;
      }
      start = page.LastEvaluatedKey as typeof start;
    } while (start);
  } finally {
    client.destroy();
  }
  return counts;
}

const USAGE = `Usage: npm run load -- [options]

Drives the local gateway (in process, loopback) with hundreds of peers and thousands of frames,
checks every introduction and every frame, and prints its figures. Exits 1 on any violation.

  --peers N               introduction sockets, all joining at once (default ${DEFAULTS.peers})
  --keys N                distinct keys; each peer joins 1–3 (default ${DEFAULTS.keys})
  --pairs N               relay pairs among peers sharing a key (default ${DEFAULTS.pairs})
  --frames N              frames each side of a pair sends (default ${DEFAULTS.frames})
  --held N                of those, sent by the first side before its peer arrives (default ${DEFAULTS.held})
  --seed N                random seed, to replay a run (env LOAD_SEED; default random)
  --dynamodb-endpoint URL a DynamoDB API instead of dynalite (e.g. DynamoDB Local)
  --timeout S             fail the run after S seconds (default ${DEFAULTS.timeoutMs / 1000})
  --help`;

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({
    options: {
      peers: { type: 'string' },
      keys: { type: 'string' },
      pairs: { type: 'string' },
      frames: { type: 'string' },
      held: { type: 'string' },
      seed: { type: 'string' },
      'dynamodb-endpoint': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const count = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number`);
    return n;
  };
  const seed = values.seed === undefined ? seedFrom('LOAD_SEED') : count('seed', values.seed, 0);
  const options: LoadOptions = {
    peers: count('peers', values.peers, DEFAULTS.peers),
    keys: Math.max(1, count('keys', values.keys, DEFAULTS.keys)),
    pairs: count('pairs', values.pairs, DEFAULTS.pairs),
    frames: count('frames', values.frames, DEFAULTS.frames),
    held: count('held', values.held, DEFAULTS.held),
    seed,
    timeoutMs: count('timeout', values.timeout, DEFAULTS.timeoutMs / 1000) * 1000,
    ...(values['dynamodb-endpoint'] ? { dynamoDbEndpoint: values['dynamodb-endpoint'] } : {}),
    progress: (line) => console.error(`  … ${line}`),
  };
  console.log(
    `load: ${options.peers} peers, ${options.keys} keys, ${options.pairs} pairs × ${options.frames} ` +
      `frames a side (${options.held} held), seed ${seed} (replay: --seed ${seed})`,
  );
  const started = Date.now();
  const { figures, violations } = await runLoad(options);
  const width = Math.max(...figures.map(([name]) => name.length));
  for (const [name, value] of figures) console.log(`  ${name.padEnd(width)}  ${value}`);
  console.log(`  ${'total time'.padEnd(width)}  ${Date.now() - started} ms`);
  if (violations.length) {
    console.log(`\n✗ ${violations.length} violation(s) (seed ${seed}):`);
    for (const violation of violations) console.log(`  - ${violation}`);
    process.exitCode = 1;
  } else
    console.log('\n✓ every introduction correct, every frame delivered exactly once, nothing left');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });

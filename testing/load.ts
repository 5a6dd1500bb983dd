/**
 * The signal server under load through the local gateway, checked for correctness (not timed).
 * Run by `npm run load` (scripts/load.ts), and small by test/hardening/load.test.ts. One run:
 *
 *   1. opens hundreds of introduction sockets at once (default 200 peers), each joining 1–3 of
 *      tens of keys (default 20), all Joins at the same moment;
 *   2. checks that every pair of peers sharing a key was introduced both ways with exactly the
 *      keys they share, and that nobody else was introduced or got an Error;
 *   3. opens relay pairs among them (default 100): the first side sends a few frames before its
 *      peer arrives (held), then both sides send bursts (default 10 frames a side: 2,000 frames);
 *      checks that every frame arrived exactly once (order is reported, not required: see
 *      ./reorder.ts);
 *   4. closes one side of every pair and checks the server closes the other, closes the
 *      introduction sockets, and checks the table is empty (nothing leaked);
 *   5. returns its figures, memory (RSS and heap before, peak, after) included, and every
 *      violation.
 *
 * Loopback only: the gateway listens on 127.0.0.1, on dynalite in process unless
 * `dynamoDbEndpoint` names a DynamoDB API (e.g. DynamoDB Local). Bounded: counts are fixed and
 * the whole run fails after `timeoutMs`.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb.js';
import { startGateway, type Gateway } from '../local/gateway/index.js';
import { random, type Random } from './random.js';
import { inBatches } from './batches.js';
import { MemorySampler, mib } from './memory.js';
import { TestSocket } from './socket.js';

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

/** One run's gateway, sockets, clock and findings, shared by its steps. */
class LoadRun {
  readonly rng: Random;
  readonly violations: string[] = [];
  readonly figures: LoadResult['figures'] = [];
  readonly timings: [string, number][] = [];
  readonly sockets: TestSocket[] = [];
  private phaseStart = Date.now();
  private readonly deadline: number;

  private constructor(
    /** Names this run's table, peers and keys. */
    readonly id: string,
    readonly options: LoadOptions,
    readonly gateway: Gateway,
    private readonly progress: (line: string) => void,
    /** The handler errors the gateway logged so far. */
    readonly handlerErrors: () => number,
  ) {
    this.rng = random(options.seed);
    this.deadline = Date.now() + options.timeoutMs;
  }

  static async start(options: LoadOptions): Promise<LoadRun> {
    const progress = options.progress ?? (() => undefined);
    const id = randomUUID().slice(0, 8);
    let errors = 0;
    const gateway = await startGateway({
      tableName: `load-${id}`,
      ...(options.dynamoDbEndpoint ? { dynamoDbEndpoint: options.dynamoDbEndpoint } : {}),
      logLevel: 'warn',
      logSink: (level, message) => {
        if (level === 'error') {
          errors++;
          progress(`gateway error: ${message}`);
        }
      },
    });
    return new LoadRun(id, options, gateway, progress, () => errors);
  }

  fail(what: string): void {
    if (this.violations.length < 50) this.violations.push(what);
    else if (this.violations.length === 50) this.violations.push('… (more violations not listed)');
  }

  phase(name: string): void {
    const now = Date.now();
    this.timings.push([name, now - this.phaseStart]);
    this.progress(`${name}: ${now - this.phaseStart} ms`);
    this.phaseStart = now;
  }

  /** The time left for a wait (at least a second). */
  left(): number {
    return Math.max(1_000, this.deadline - Date.now());
  }

  async open(path: string): Promise<TestSocket> {
    const client = await TestSocket.open(this.gateway.wsUrl(path), {
      within: this.left(),
      perMessageDeflate: false,
      tagged: false,
    });
    this.sockets.push(client);
    return client;
  }

  /**
   * Until the server has every frame these sockets sent (a ping after them came back), has
   * handled them all, and everything it sent them has arrived.
   */
  async quiet(clients: TestSocket[]): Promise<void> {
    await inBatches(clients, 50, (client) => client.sync(this.left()));
    await this.gateway.settled();
    await inBatches(clients, 50, (client) => client.sync(this.left()));
  }
}

/** The introduction sockets, each peer's keys, and the pairs of peers sharing keys. */
interface Introduced {
  peers: TestSocket[];
  ids: string[];
  keysOf: Map<string, string[]>;
  sharing: [string, string, string[]][];
}

/** Step 1: every peer opens its introduction socket and joins its keys, all at once. */
async function introduce(run: LoadRun): Promise<Introduced> {
  const { peers: peerCount, keys: keyCount } = run.options;
  const keys = Array.from({ length: keyCount }, (_, i) => `doc-${i}-${run.id}`);
  const ids = Array.from({ length: peerCount }, (_, i) => `p${i}-${run.id}`);
  const keysOf = new Map(
    ids.map((id) => [
      id,
      run.rng.shuffle(keys).slice(0, run.rng.between(1, Math.min(3, keyCount))),
    ]),
  );
  const peers = await inBatches(ids, 50, (id) => run.open(`/introduction/${id}`));
  run.phase('open introduction sockets');
  peers.forEach((peer, i) => peer.send({ type: 'Join', join: keysOf.get(ids[i]!) }));
  await run.quiet(peers);
  run.phase('join and introduce');
  return { peers, ids, keysOf, sharing: [] };
}

/** Step 2: every pair sharing a key was introduced both ways with exactly those keys. */
function checkIntroductions(run: LoadRun, introduced: Introduced): void {
  const { peers, ids, keysOf, sharing } = introduced;
  let expected = 0;
  let received = 0;
  let duplicates = 0;
  ids.forEach((id, i) => {
    const mine = keysOf.get(id)!;
    const got = peers[i]!.received.map((frame) => JSON.parse(frame) as Introduction);
    received += got.length;
    const seen = new Map<string, number>();
    for (const message of got) {
      if (message.type !== 'Introduction' || !message.id) {
        run.fail(`${id} got ${message.type}: ${message.error ?? ''}`);
        continue;
      }
      const shared = mine.filter((key) => keysOf.get(message.id!)?.includes(key));
      if (shared.length === 0) run.fail(`${id} introduced to ${message.id}, sharing no key`);
      else if (!sameSet(message.keys ?? [], shared))
        run.fail(
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
      if (times === 0) run.fail(`${id} never introduced to ${other} (sharing ${shared.join()})`);
      duplicates += Math.max(0, times - 1);
      if (id < other) sharing.push([id, other, shared]);
    }
  });
  run.figures.push(
    ['peers (introduction sockets)', run.options.peers],
    ['keys', run.options.keys],
    ['introductions expected (pair × direction)', expected],
    ['introductions received', received],
    ['  of which repeated (allowed)', duplicates],
  );
}

/** The relay pairs' sockets, and every frame each socket sent. */
interface Relayed {
  pairs: number;
  firstSides: TestSocket[];
  secondSides: TestSocket[];
  sent: Map<TestSocket, string[]>;
}

/** Step 3: relay pairs hold frames before pairing, then send both ways. */
async function relay(run: LoadRun, sharing: Introduced['sharing']): Promise<Relayed> {
  const { rng } = run;
  const { pairs: pairCount, frames, held } = run.options;
  const chosen = rng.shuffle(sharing).slice(0, pairCount);
  const firstSides = await inBatches(chosen, 50, ([p, q, shared]) =>
    run.open(`/connection/${p}/${q}/${shared[0]}`),
  );
  const sent = new Map<TestSocket, string[]>();
  firstSides.forEach((socket, pair) => {
    const texts = Array.from({ length: held }, (_, n) => frameText(rng, pair, 'a', n));
    texts.forEach((text) => socket.send(text));
    sent.set(socket, texts);
  });
  await run.quiet(firstSides);
  run.phase('open first relay sides, hold frames');
  const secondSides = await inBatches(chosen, 50, ([p, q, shared]) =>
    run.open(`/connection/${q}/${p}/${shared[0]}`),
  );
  run.phase('open second relay sides (pairing)');
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
  const relayed = { pairs: chosen.length, firstSides, secondSides, sent };
  await Promise.all(
    receivers(relayed).map(([to, from]) =>
      to
        .until(
          'relayed frames',
          () => (to.received.length >= sent.get(from)!.length ? true : undefined),
          run.left(),
        )
        .catch((error: Error) => run.fail(error.message)),
    ),
  );
  await run.quiet([...firstSides, ...secondSides]);
  run.phase('relay frames');
  return relayed;
}

/** Each relay socket with the socket whose frames it receives. */
const receivers = ({ firstSides, secondSides }: Relayed) =>
  firstSides.flatMap((first, pair) => [
    [secondSides[pair]!, first] as const,
    [first, secondSides[pair]!] as const,
  ]);

/** Step 3's check: every frame arrived exactly once (order is counted, not required). */
function checkFrames(run: LoadRun, relayed: Relayed): void {
  let framesSent = 0;
  let framesReceived = 0;
  let reordered = 0;
  for (const [to, from] of receivers(relayed)) {
    const expectedTexts = relayed.sent.get(from)!;
    framesSent += expectedTexts.length;
    framesReceived += to.received.length;
    const want = new Map<string, number>();
    for (const text of expectedTexts) want.set(text, (want.get(text) ?? 0) + 1);
    for (const text of to.received) {
      const left = want.get(text) ?? 0;
      if (left === 0) run.fail(`a frame arrived twice or unsent: ${text.slice(0, 40)}`);
      else want.set(text, left - 1);
    }
    for (const [text, count] of want)
      if (count > 0) run.fail(`a frame never arrived: ${text.slice(0, 40)}`);
    const order = to.received.map((text) => (JSON.parse(text) as { n: number }).n);
    for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) reordered++;
  }
  run.figures.push(
    ['relay pairs', relayed.pairs],
    ['frames sent (held before pairing + after)', framesSent],
    ['  of which held before pairing', relayed.pairs * run.options.held],
    ['frames received', framesReceived],
    ['frames received out of send order (not a violation)', reordered],
  );
}

/** Step 4: one side of each pair closes, the server closes the other; nothing is left. */
async function closeEverything(run: LoadRun, peers: TestSocket[], relayed: Relayed): Promise<void> {
  const { firstSides, secondSides } = relayed;
  await Promise.all(firstSides.map((socket) => socket.close()));
  await Promise.all(
    secondSides.map((socket) =>
      socket
        .until('the server to close a peer', () => socket.closedWith, run.left())
        .catch((error: Error) => run.fail(error.message)),
    ),
  );
  const closedBy1000 = secondSides.filter((socket) => socket.closedWith?.code === 1000).length;
  if (closedBy1000 !== secondSides.length)
    run.fail(`${secondSides.length - closedBy1000} second sides not closed with 1000`);
  await Promise.all(peers.map((peer) => peer.close()));
  await run.gateway.settled();
  run.phase('close everything');
  const leftover = await countItems(run.gateway.dynamoDbEndpoint, run.gateway.tableName);
  // The stage's introduction budget (B#) belongs to no socket: its items expire minutes after
  // their minute (test/store/budget.test.ts checks their TTL).
  const { 'B#': budgetItems = 0, ...sockets } = leftover;
  for (const [prefix, count] of Object.entries(sockets))
    run.fail(`${count} ${prefix} items left in the table after every socket closed`);
  run.figures.push(['introduction budget items (expire by TTL)', budgetItems]);
  run.figures.push(['table items left after closing', sumOf(sockets)]);
}

export async function runLoad(given: Partial<LoadOptions> = {}): Promise<LoadResult> {
  const options: LoadOptions = { ...DEFAULTS, ...given };
  if (options.held > options.frames) throw new Error('--held must not exceed --frames');
  const memory = new MemorySampler();
  const run = await LoadRun.start(options);
  try {
    const introduced = await introduce(run);
    checkIntroductions(run, introduced);
    const relayed = await relay(run, introduced.sharing);
    checkFrames(run, relayed);
    await closeEverything(run, introduced.peers, relayed);
  } catch (error) {
    run.fail(`run failed: ${(error as Error).message}`);
  } finally {
    await Promise.all(run.sockets.map((socket) => socket.close()));
    await run.gateway.close();
  }
  const { figures, violations } = run;
  const handlerErrors = run.handlerErrors();
  if (handlerErrors > 0) run.fail(`${handlerErrors} handler errors logged`);
  const after = memory.stop();
  figures.push(['handler errors', handlerErrors]);
  for (const [name, ms] of run.timings) figures.push([`time: ${name}`, `${ms} ms`]);
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

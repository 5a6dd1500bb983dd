/**
 * `npm run bench`: what each message costs, measured on this machine (issue 6). Never part of
 * `npm test`. One run prints:
 *
 *   1. relay throughput and p50/p99 latency through the local gateway (N pairs × M frames, real
 *      ws clients), beside a bare WebSocket pipe measured in the same run as the floor;
 *   2. AWS calls per protocol operation, counted at the SDK on the real clients, each beside its
 *      floor (scripts/bench/operations.ts), and the number of scans;
 *   3. each Lambda bundle's size and cold init time beside an empty handler's;
 *   4. the modelled price per million relayed frames and per peer-hour (scripts/bench/cost.ts,
 *      prices in scripts/bench/prices.ts);
 *   5. the targets, ✓ or ✗, with the reason for each one missed;
 *
 * and writes the figures as a README-ready markdown section (default: $TMPDIR/bench-results.md).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startGateway } from '../local/gateway/index.js';
import { measureBundles, NO_SOURCE_MAPS, type BundlesRun } from './bench/bundles.js';
import { describeFanOut, measureFanOut } from './bench/fanout.js';
import { costModel, DEFAULT_ASSUMPTIONS, price, type Bill, type CostModel } from './bench/cost.js';
import {
  JOIN_POINTS,
  MODEL_JOIN,
  measureOperations,
  type OperationResult,
  type OperationsRun,
} from './bench/operations.js';
import { PRICE_LABELS, PRICES, PRICES_AS_OF, type PriceItem } from './bench/prices.js';
import {
  closePairs,
  drive,
  openPairs,
  startPipe,
  summarize,
  type RelayLoad,
  type RelayResult,
  type RelayRun,
} from './bench/relay.js';
import {
  addStats,
  callsOf,
  emptyStats,
  SdkCallCounter,
  unitsIn,
  type Tally,
} from './bench/sdk-calls.js';
import { kib, markdownTable, num, query, table, usd } from './bench/stats.js';
import {
  measureTransport,
  printTransport,
  transportTargets,
  type TransportRun,
} from './bench/transport.js';

const INIT_TARGET = 1.3;

const USAGE = `Usage: npm run bench -- [options]

Measures the signal server on this machine: relay throughput and latency through the local
gateway beside a bare WebSocket pipe, AWS calls per protocol operation beside their floors,
bundle sizes and cold init, and the modelled price per million frames and per peer-hour.

  --pairs N              relay pairs (env BENCH_PAIRS; default 10)
  --frames M             frames each side sends per round (env BENCH_FRAMES; default 200)
  --rounds R             measured rounds (env BENCH_ROUNDS; default 5)
  --window W             frames in flight per direction (env BENCH_WINDOW; default 4)
  --bytes B              bytes per frame (default 256)
  --warmup F             frames each side sends first, unmeasured (default 20)
  --samples S            cold-init samples per bundle (env BENCH_SAMPLES; default 31)
  --relay-sockets K      cost model: relay sockets per peer (default ${DEFAULT_ASSUMPTIONS.relaySockets})
  --frames-per-minute F  cost model: frames a peer sends per minute per relay socket (default ${DEFAULT_ASSUMPTIONS.framesPerMinute})
  --only LIST            comma-separated sections: relay, calls, bundles, fanout, transport (default all)
  --markdown PATH        where to write the README section (default $TMPDIR/bench-results.md)
  -h, --help             show this help
`;

class UsageError extends Error {}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      pairs: { type: 'string' },
      frames: { type: 'string' },
      rounds: { type: 'string' },
      window: { type: 'string' },
      bytes: { type: 'string' },
      warmup: { type: 'string' },
      samples: { type: 'string' },
      'relay-sockets': { type: 'string' },
      'frames-per-minute': { type: 'string' },
      only: { type: 'string' },
      markdown: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const sections = new Set(
    (values.only ?? 'relay,calls,bundles,fanout,transport').split(',').map((s) => s.trim()),
  );
  const known = ['relay', 'calls', 'bundles', 'fanout', 'transport'];
  for (const section of sections)
    if (!known.includes(section))
      throw new UsageError(`--only: unknown section ${section} (${known.join(', ')})`);
  const load: RelayLoad = {
    pairs: positive('pairs', values.pairs ?? env.BENCH_PAIRS, 10),
    frames: positive('frames', values.frames ?? env.BENCH_FRAMES, 200),
    rounds: positive('rounds', values.rounds ?? env.BENCH_ROUNDS, 5),
    window: positive('window', values.window ?? env.BENCH_WINDOW, 4),
    bytes: positive('bytes', values.bytes, 256),
    warmup: positive('warmup', values.warmup, 20),
  };
  if (load.bytes < 16 || load.bytes > 32 * 1024)
    throw new UsageError('--bytes must be from 16 to 32768 (API Gateway’s frame limit)');
  return {
    help: values.help ?? false,
    load,
    samples: positive('samples', values.samples ?? env.BENCH_SAMPLES, 31),
    relaySockets: positive(
      'relay-sockets',
      values['relay-sockets'],
      DEFAULT_ASSUMPTIONS.relaySockets,
    ),
    framesPerMinute: positive(
      'frames-per-minute',
      values['frames-per-minute'],
      DEFAULT_ASSUMPTIONS.framesPerMinute,
    ),
    sections,
    markdown: values.markdown ?? join(os.tmpdir(), 'bench-results.md'),
    argv,
  };
}

type Options = ReturnType<typeof parseOptions>;

/** Lines for the console and for the markdown file. */
class Report {
  readonly md: string[] = [];
  print(line = ''): void {
    console.log(line);
  }
  both(line = ''): void {
    this.print(line);
    this.md.push(line);
  }
}

// ---- formatting ------------------------------------------------------------------------------

const SERVICE_ORDER = ['DynamoDB', '@connections', 'Lambda'];
const FAILURE_LABELS: Record<string, string> = {
  ConditionalCheckFailedException: 'condition failed',
  GoneException: '410 Gone',
};

/** "DynamoDB GetItem 1, UpdateItem 4 (1 condition failed); @connections PostToConnection 1" */
function describeCalls(
  calls: Record<string, { n: number; failed?: Record<string, number> }>,
): string {
  const byService = new Map<string, string[]>();
  const keys = Object.keys(calls).sort();
  for (const key of keys) {
    const [service, command] = key.split(' ') as [string, string];
    const { n, failed } = calls[key]!;
    const failures = Object.entries(failed ?? {})
      .filter(([, count]) => count > 0)
      .map(([name, count]) => `${num(count)} ${FAILURE_LABELS[name] ?? name}`);
    const list = byService.get(service) ?? [];
    list.push(`${command} ${num(n)}${failures.length ? ` (${failures.join(', ')})` : ''}`);
    byService.set(service, list);
  }
  const services = [...byService.keys()].sort(
    (a, b) => SERVICE_ORDER.indexOf(a) - SERVICE_ORDER.indexOf(b),
  );
  return services.length
    ? services.map((service) => `${service} ${byService.get(service)!.join(', ')}`).join('; ')
    : 'none';
}

const describeTally = (tally: Tally) =>
  describeCalls(
    Object.fromEntries(
      [...tally].map(([key, stats]) => [key, { n: stats.calls, failed: stats.failed }]),
    ),
  );

const describeFloor = (calls: Readonly<Record<string, number>>) =>
  describeCalls(
    Object.fromEntries(
      Object.entries(calls)
        .filter(([, n]) => n > 0)
        .map(([key, n]) => [key, { n }]),
    ),
  );

function describeExcess(excess: Record<string, number>): string {
  return Object.entries(excess)
    .map(([key, n]) => `${n > 0 ? '+' : '−'}${num(Math.abs(n))} ${key}`)
    .join(', ');
}

function verdict(op: OperationResult): string {
  const deltas = Object.values(op.excess);
  if (deltas.length === 0) return 'at floor';
  if (deltas.some((n) => n < 0)) return `differs: ${describeExcess(op.excess)}`;
  return `above: ${describeExcess(op.excess)}`;
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores (${os.availableParallelism()} available), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

// ---- sections --------------------------------------------------------------------------------

interface RelaySection {
  loaded: { gateway: RelayResult; pipe: RelayResult };
  /** One pair, one frame in flight per direction: latency without queueing. */
  single: { gateway: RelayResult; pipe: RelayResult };
  /** AWS calls during the measured gateway rounds. */
  calls: Tally;
  frames: number;
}

async function relaySection(
  options: Options,
  gateway: { wsUrl: () => string; settled: () => Promise<void> },
  counter: SdkCallCounter,
): Promise<RelaySection> {
  const { load } = options;
  const pipe = await startPipe();
  try {
    const relayUrl = (pair: number, side: 0 | 1) => {
      const [me, other] = side === 0 ? ['a', 'b'] : ['b', 'a'];
      return `${gateway.wsUrl()}?${query({
        type: 'connection',
        localId: `load-${pair}-${me}`,
        remoteId: `load-${pair}-${other}`,
        key: 'bench',
      })}`;
    };
    const gatewayPairs = await openPairs(load.pairs + 1, relayUrl, () => gateway.settled());
    const pipePairs = await openPairs(load.pairs + 1, (pair) => pipe.url(pair));
    const [gatewaySingle, gatewayLoaded] = [gatewayPairs.slice(0, 1), gatewayPairs.slice(1)];
    const [pipeSingle, pipeLoaded] = [pipePairs.slice(0, 1), pipePairs.slice(1)];
    // Warm-up: every pair's first frames (the cache misses), the JIT, the sockets.
    await drive(gatewayPairs, load.warmup, load);
    await drive(pipePairs, load.warmup, load);
    await gateway.settled();

    const runs = { gateway: [] as RelayRun[], pipe: [] as RelayRun[] };
    const single = { gateway: [] as RelayRun[], pipe: [] as RelayRun[] };
    const one = { window: 1, bytes: load.bytes };
    let calls: Tally = new Map();
    for (let round = 0; round < load.rounds; round++) {
      const before = counter.snapshot();
      runs.gateway.push(await drive(gatewayLoaded, load.frames, load));
      single.gateway.push(await drive(gatewaySingle, load.frames, one));
      await gateway.settled();
      calls = addTally(calls, diffTally(counter.snapshot(), before));
      runs.pipe.push(await drive(pipeLoaded, load.frames, load));
      single.pipe.push(await drive(pipeSingle, load.frames, one));
    }
    await closePairs(pipePairs);
    await closePairs(gatewayPairs);
    await gateway.settled();
    const loaded = { gateway: summarize(runs.gateway), pipe: summarize(runs.pipe) };
    const alone = { gateway: summarize(single.gateway), pipe: summarize(single.pipe) };
    return { loaded, single: alone, calls, frames: loaded.gateway.frames + alone.gateway.frames };
  } finally {
    await pipe.close();
  }
}

function addTally(a: Tally, b: Tally): Tally {
  const out: Tally = new Map();
  for (const tally of [a, b])
    for (const [key, stats] of tally) {
      const sum = out.get(key) ?? emptyStats();
      addStats(sum, stats);
      out.set(key, sum);
    }
  return out;
}

function diffTally(after: Tally, before: Tally): Tally {
  const out: Tally = new Map();
  for (const [key, stats] of after) {
    const calls = stats.calls - (before.get(key)?.calls ?? 0);
    if (calls) out.set(key, { ...stats, calls });
  }
  return out;
}

function printRelay(report: Report, options: Options, relay: RelaySection): void {
  const { load } = options;
  report.both(`### 1. Relay throughput and latency`);
  report.both();
  report.both(
    `${load.pairs} pairs, each side sending ${load.frames} frames of ${load.bytes} bytes to the other per round, at most ${load.window} in flight per direction, ${load.rounds} rounds (the gateway's and the pipe's taking turns) after ${load.warmup} frames each way to warm up. Then one more pair with one frame in flight per direction, ${load.frames} frames each way per round: latency without queueing. Latency: from send to receipt at the peer. Clients, gateway and dynalite share one Node.js process.`,
  );
  report.both();
  const loaded = `${load.pairs} pairs × ${load.window} in flight`;
  const row = (name: string, r: RelayResult) => [
    name,
    num(r.framesPerSecond, 0),
    num(r.p50Ms, 2),
    num(r.p99Ms, 2),
    String(r.frames),
    num(r.seconds, 2),
  ];
  const rows = [
    ['path', 'frames/s', 'p50 ms', 'p99 ms', 'frames', 'seconds'],
    row(`local gateway, ${loaded}`, relay.loaded.gateway),
    row(`bare WebSocket pipe (floor), ${loaded}`, relay.loaded.pipe),
    row('local gateway, 1 pair × 1 in flight', relay.single.gateway),
    row('bare WebSocket pipe (floor), 1 pair × 1 in flight', relay.single.pipe),
  ];
  report.print(table(rows));
  report.md.push(markdownTable(rows));
  report.both();
  const posts = relay.calls.get('@connections PostToConnection')?.calls ?? 0;
  const dynamo = callsOf(relay.calls, 'DynamoDB');
  const other = callsOf(relay.calls) - posts - dynamo;
  report.both(
    `Under load the gateway relays at ${num((relay.loaded.gateway.framesPerSecond / relay.loaded.pipe.framesPerSecond) * 100, 1)}% of the pipe's rate; a single frame takes ${num(relay.single.gateway.p50Ms, 2)} ms (p50) against the pipe's ${num(relay.single.pipe.p50Ms, 2)} ms: the handler, the SDK's signed PostToConnection over HTTP and the gateway's own @connections endpoint. AWS calls during the measured gateway rounds: ${posts} PostToConnection, ${dynamo} DynamoDB${other ? `, ${other} other` : ''}, for ${relay.frames} frames.`,
  );
  report.both();
}

function printOperations(
  report: Report,
  ops: OperationsRun,
  scans: number,
  unattributed: number,
): void {
  report.both('### 2. AWS calls per protocol operation');
  report.both();
  report.both(
    'Counted at the SDK by a middleware on the real clients (each call once, whatever its outcome; retries none here), isolated per operation with the gateway quiescent before and after. The floor is the fewest calls the operation needs in this design; its reason is in scripts/bench/operations.ts and below.',
  );
  report.both();
  for (const op of ops.results) {
    const units = unitsIn(op.measured);
    report.print(
      `  ${op.name} — ${op.per}: ${verdict(op) === 'at floor' ? 'at floor ✓' : verdict(op)}`,
    );
    report.print(
      `      measured  ${describeTally(op.measured)}  [DynamoDB units: ${num(units.read)} read, ${num(units.write)} write]`,
    );
    report.print(`      floor     ${describeFloor(op.floor.calls)}: ${op.floor.why}`);
    if (op.reason) report.print(`      why       ${op.reason}`);
  }
  const rows = [
    ['operation', 'measured', 'floor', 'vs floor'],
    ...ops.results.map((op) => [
      op.per === 'per operation' ? op.name : `${op.name}, ${op.per}`,
      describeTally(op.measured),
      describeFloor(op.floor.calls),
      verdict(op),
    ]),
  ];
  report.md.push(markdownTable(rows));
  report.md.push('');
  report.md.push('Floors:');
  const reasons = new Map<string, string[]>();
  for (const op of ops.results)
    reasons.set(op.floor.why, [...(reasons.get(op.floor.why) ?? []), op.name]);
  for (const [why, names] of reasons) report.md.push(`- ${names.join('; ')}: ${why}.`);
  const above = ops.results.filter((op) => op.reason);
  if (above.length) {
    report.md.push('');
    report.md.push('Above the floor, and why:');
    for (const op of above) report.md.push(`- ${op.name}: ${op.reason}`);
  }
  report.both();
  report.both(`Scans in the whole run: ${scans}. Calls made outside any handler: ${unattributed}.`);
  report.both();
}

function initRatio(run: BundlesRun, name: string): number {
  const empty = run.bundles.find((b) => b.name === 'empty')!;
  return run.bundles.find((b) => b.name === name)!.initMs / empty.initMs;
}

const FUNCTIONS = ['connect', 'default', 'disconnect', 'deliver'];

function printBundles(report: Report, run: BundlesRun): void {
  report.both('### 3. Lambda bundles and cold init');
  report.both();
  const samples = run.bundles[0]?.samples ?? 0;
  report.both(
    `Bundled by SignalFunction itself (CDK's NodejsFunction with the project's esbuild: ESM, minified, source maps, AWS SDK inside). Cold init: a fresh \`node\` per sample with the function's environment (NODE_OPTIONS=${run.nodeOptions || '(none)'} as deployed, dummies for the rest), from process start to the handler exported; import alone beside it. Median of ${samples} samples each, taken round-robin. Lambda runs Node.js 24; this machine runs ${process.version}.`,
  );
  report.both();
  const empty = run.bundles.find((b) => b.name === 'empty')!;
  const rows = [
    ['bundle', 'entry', 'index.mjs', 'zip (with map)', 'init ms', '× empty', 'import ms', 'CPU ms'],
    ...run.bundles.map((b) => [
      b.name,
      b.entry,
      kib(b.bytes),
      kib(b.zippedBytes),
      num(b.initMs, 1),
      `${num(b.initMs / empty.initMs, 2)}×`,
      num(b.importMs, 1),
      num(b.cpuMs, 1),
    ]),
  ];
  report.print(table(rows));
  report.md.push(markdownTable(rows));
  report.both();
  report.both(
    `References: \`empty\` imports nothing; \`sdk-clients\` makes the two SDK clients every function makes (DynamoDB with its document client, and @connections) as lambda/runtime.ts makes them, and nothing else; \`${NO_SOURCE_MAPS}\` is the default bundle without --enable-source-maps.`,
  );
  report.both();
}

function initExplanation(run: BundlesRun): string {
  const find = (name: string) => run.bundles.find((b) => b.name === name)!;
  const empty = find('empty');
  const sdk = find('sdk-clients');
  const plain = run.bundles.find((b) => b.name === NO_SOURCE_MAPS);
  const [connect, defaults] = [find('connect'), find('default')];
  const others = ['default', 'disconnect', 'deliver'].map(find);
  const othersOver = Math.max(...others.map((b) => b.initMs - sdk.initMs));
  return (
    `The SDK clients alone take ${num(sdk.initMs, 1)} ms, ${num(sdk.initMs / empty.initMs, 2)}× the empty handler's ${num(empty.initMs, 1)} ms: ` +
    `evaluating AWS SDK v3's DynamoDB and management API clients (${kib(sdk.bytes)} minified) takes longer than a bare Node.js start, so no function that talks to DynamoDB can come within ${INIT_TARGET}× of it with the SDK bundled (the runtime's own SDK would have to be loaded just the same). ` +
    `Over the clients alone, default, disconnect and deliver take at most ${num(othersOver, 1)} ms more (the signal code), and connect ${num(connect.initMs - defaults.initMs, 1)} ms more than default: the Lambda client it alone needs (${kib(connect.bytes - defaults.bytes)}), bundled though loaded only when a pairing defers a delivery. ` +
    (plain
      ? `Loading the source map (NODE_OPTIONS=--enable-source-maps, for readable stack traces in the logs) is ${num(defaults.initMs - plain.initMs, 1)} ms of the default function's init on this machine's Node.js. `
      : '') +
    'Made here: the default, disconnect and deliver bundles no longer carry the Lambda client.'
  );
}

function billRows(bill: Bill, per: string): string[][] {
  const dollars = price(bill);
  const quantity: Record<keyof Bill, string> = {
    messages: `${num(bill.messages)} messages`,
    connectionMinutes: `${num(bill.connectionMinutes)} min`,
    lambdaRequests: `${num(bill.lambdaRequests)} requests`,
    gbSeconds: `${num(bill.gbSeconds, 4)} GB-s`,
    readUnits: `${num(bill.readUnits)} RRU`,
    writeUnits: `${num(bill.writeUnits)} WRU`,
  };
  const labels: Record<keyof Bill, string> = {
    messages: 'WebSocket messages',
    connectionMinutes: 'connection minutes',
    lambdaRequests: 'Lambda requests',
    gbSeconds: 'Lambda duration',
    readUnits: 'DynamoDB reads',
    writeUnits: 'DynamoDB writes',
  };
  return [
    ['item', `quantity ${per}`, `price ${per}`],
    ...(Object.keys(labels) as (keyof Bill)[]).map((key) => [
      labels[key],
      quantity[key],
      usd(dollars[key]),
    ]),
    ['total', '', usd(dollars.total)],
  ];
}

function printCost(report: Report, model: CostModel, ops: OperationsRun): void {
  const a = model.assumptions;
  report.both('### 4. Modelled price');
  report.both();
  report.both(`AWS list prices, us-east-1, as of ${PRICES_AS_OF} (scripts/bench/prices.ts):`);
  report.both();
  const priceRows = [
    ['item', 'USD'],
    ...(Object.keys(PRICES) as PriceItem[]).map((item) => [
      PRICE_LABELS[item],
      item === 'lambdaArmGbSecond'
        ? `${PRICES[item]} per GB-s`
        : `${num(PRICES[item] * 1e6, 3)} per million`,
    ]),
  ];
  report.print(table(priceRows));
  report.md.push(markdownTable(priceRows));
  report.both();
  const steady = ops.byId('steadyFrame');
  report.both(
    `Assumptions: Lambda ${a.memoryMb} MB arm64 (the prod stage); each invocation runs ${a.msPerInvocation} ms plus ${a.msPerAwsCall} ms per AWS call it makes, taken one after another (an assumption for in-region round trips, not measured here: locally a steady-state frame's handler took ${num(steady.localMs.$default ?? NaN, 2)} ms over loopback). A message in per client frame, a message out per successful PostToConnection (frames ≤ 32 KB: one message each); $connect and $disconnect are not messages. DynamoDB units as the table reported them per call (ReturnConsumedCapacity), a failed conditional write as 1 WRU. No free tier.`,
  );
  report.both();
  report.both(`Per million steady-state relayed frames (${describeTally(steady.measured)} each):`);
  report.both();
  const frameRows = billRows(model.perMillionFrames, 'per million frames');
  report.print(table(frameRows));
  report.md.push(markdownTable(frameRows));
  report.both();
  report.both(
    `Per peer-hour: a peer keeps one introduction socket and ${a.relaySockets} relay sockets open for the hour (each connected and closed once) and sends ${a.framesPerMinute} frames a minute on each relay socket; it sends one Join of ${MODEL_JOIN.k} keys that meets ${MODEL_JOIN.m} peers. A pair's opening and closing are shared by its two peers.`,
  );
  report.both();
  const hourRows = billRows(model.perPeerHour, 'per peer-hour');
  report.print(table(hourRows));
  report.md.push(markdownTable(hourRows));
  report.both();
  for (const part of model.peerHourParts)
    report.both(`- ${part.name}: ${usd(price(part.bill).total)}`);
  report.both(
    `- so a million peer-hours cost ${usd(price(model.perPeerHour).total * 1e6)}; the relayed frames' messages are ${num((price(model.perPeerHour).messages / price(model.perPeerHour).total) * 100, 0)}% of it.`,
  );
  report.both();
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`${(error as Error).message}\nRun with --help for the options.`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  // The SDK warns on Node.js < 22 at each client it makes; Lambda runs Node.js 24.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const report = new Report();
  const startedAt = new Date();
  const command = `npm run bench${options.argv.length ? ` -- ${options.argv.join(' ')}` : ''}`;
  report.print(`cevitxe signal server — npm run bench (${startedAt.toISOString()})`);
  report.md.push('## Performance and cost');
  report.md.push('');
  report.both(
    `Machine: ${machine()}. Load average at start: ${os
      .loadavg()
      .map((n) => num(n))
      .join(', ')} (a shared machine: figures vary between runs).`,
  );
  report.both();
  report.md.push(
    `Measured ${startedAt.toISOString().slice(0, 10)} with \`${command}\`; reproduce with the same command.`,
  );
  report.md.push('');
  report.print();

  const counter = new SdkCallCounter();
  const warnings: string[] = [];
  let relay: RelaySection | undefined;
  let ops: OperationsRun | undefined;
  let scans = 0;
  if (options.sections.has('relay') || options.sections.has('calls')) {
    const gateway = await startGateway({
      logLevel: 'warn',
      logSink: (level, message, fields) =>
        warnings.push(`${level}: ${message} ${JSON.stringify(fields)}`),
      instrumentClient: counter.instrument,
      wrapHandlers: counter.wrapHandlers,
    });
    try {
      if (options.sections.has('relay')) {
        console.error('[bench] relay: opening pairs and warming up…');
        relay = await relaySection(options, gateway, counter);
        printRelay(report, options, relay);
      }
      if (options.sections.has('calls')) {
        console.error('[bench] counting AWS calls per operation…');
        ops = await measureOperations(gateway, counter);
        const unattributed =
          callsOf(counter.snapshot()) -
          callsOf(counter.snapshot('$connect')) -
          callsOf(counter.snapshot('$default')) -
          callsOf(counter.snapshot('$disconnect')) -
          callsOf(counter.snapshot('deliver'));
        printOperations(report, ops, scans, unattributed);
      }
    } finally {
      await gateway.close();
    }
    scans = counter.snapshot().get('DynamoDB Scan')?.calls ?? 0;
  }

  let bundles: BundlesRun | undefined;
  if (options.sections.has('bundles')) {
    bundles = await measureBundles({ samples: options.samples }, (line) =>
      console.error(`[bench] ${line}`),
    );
    printBundles(report, bundles);
  }

  if (options.sections.has('fanout')) {
    const fanOut = await measureFanOut({}, (line) => console.error(`[bench] ${line}`));
    report.both('### Large fan-out');
    report.both();
    for (const text of describeFanOut(fanOut)) report.both(text);
    report.both();
  }

  let transport: TransportRun | undefined;
  if (options.sections.has('transport')) {
    transport = await measureTransport((line) => console.error(`[bench] ${line}`));
    printTransport(report, transport);
  }

  let model: CostModel | undefined;
  if (ops) {
    model = costModel(ops, {
      ...DEFAULT_ASSUMPTIONS,
      relaySockets: options.relaySockets,
      framesPerMinute: options.framesPerMinute,
      memoryMb: bundles?.memorySize.prod ?? 512,
    });
    printCost(report, model, ops);
  }

  // ---- 5. targets ----
  report.both('### 5. Targets');
  report.both();
  const line = (met: boolean, text: string, why?: string) => {
    report.both(`${met ? '✓' : '✗'} ${text}`);
    if (!met && why) report.both(`  why: ${why}`);
  };
  if (ops || relay) {
    const steadyDynamo = ops ? callsOf(ops.byId('steadyFrame').measured, 'DynamoDB') : 0;
    const runDynamo = relay ? callsOf(relay.calls, 'DynamoDB') : 0;
    const measured = [
      ...(ops ? [`${num(steadyDynamo)} per frame measured alone`] : []),
      ...(relay ? [`${runDynamo} in the throughput rounds' ${relay.frames} frames`] : []),
    ];
    line(
      steadyDynamo === 0 && runDynamo === 0,
      `zero DynamoDB requests per steady-state relayed frame (${measured.join('; ')})`,
      'a warm function found no cached peer for the socket: see section 2',
    );
  }
  if (ops || relay)
    line(
      scans === 0,
      `zero scans (${scans} in the whole run)`,
      'a Scan was sent: the store must query or get instead',
    );
  if (ops) {
    const joins = ops.results.filter((op) => op.id.startsWith('join:'));
    const atFloor = joins.filter((op) => Object.keys(op.excess).length === 0);
    line(
      atFloor.length === joins.length,
      `per-Join calls at the floor (${atFloor.length} of ${joins.length} points: ${JOIN_POINTS.map(([k, m]) => `k=${k} m=${m}`).join(', ')})`,
      joins
        .filter((op) => Object.keys(op.excess).length)
        .map((op) => `${op.name}: ${verdict(op)}`)
        .join('; '),
    );
  }
  if (bundles) {
    const ratios = FUNCTIONS.map((name) => [name, initRatio(bundles, name)] as const);
    const worst = Math.max(...ratios.map(([, r]) => r));
    line(
      worst <= INIT_TARGET,
      `cold init within ${INIT_TARGET}× of the empty handler (${ratios.map(([name, r]) => `${name} ${num(r, 2)}×`).join(', ')})`,
      initExplanation(bundles),
    );
  }
  if (transport) for (const [met, text] of transportTargets(transport)) line(met, text);
  report.both();
  if (warnings.length) {
    report.print(
      `The gateway logged ${warnings.length} warnings or errors; the first: ${warnings[0]}`,
    );
  }
  writeFileSync(options.markdown, `${report.md.join('\n').replace(/\n{3,}/g, '\n\n')}\n`);
  report.print(`README section written to ${options.markdown}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

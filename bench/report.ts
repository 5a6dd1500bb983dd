/**
 * The bench's report: each section printed for a person and, with `both`, written as the
 * markdown that docs/performance.md is made from.
 */
import os from 'node:os';
import { MODEL_JOIN, type OperationsRun } from '../testing/operations.js';
import { callsOf, unitsIn, type Tally } from '../testing/sdk-calls.js';
import { NO_SOURCE_MAPS, type BundlesRun } from './bundles.js';
import { price, type Bill, type CostModel } from './cost.js';
import { PRICE_LABELS, PRICES, PRICES_AS_OF, type PriceItem } from './prices.js';
import type { RelayLoad, RelayResult, RelaySection } from './relay.js';
import { kib, markdownTable, median, num, table, usd } from './stats.js';

export const INIT_TARGET = 1.3;

/** Lines for the console and for the markdown file. */
export class Report {
  readonly md: string[] = [];
  print(line = ''): void {
    console.log(line);
  }
  both(line = ''): void {
    this.print(line);
    this.md.push(line);
  }
  /** A table: aligned on the terminal, Markdown in the README section. */
  table(rows: string[][]): void {
    this.print(table(rows));
    this.md.push(markdownTable(rows));
  }
}

// ---- formatting ------------------------------------------------------------------------------

const SERVICE_ORDER = ['DynamoDB', '@connections', 'Lambda'];
const FAILURE_LABELS: Record<string, string> = {
  ConditionalCheckFailedException: 'condition failed',
  GoneException: '410 Gone',
};

/** "DynamoDB GetItem 1, UpdateItem 4 (1 condition failed); @connections PostToConnection 1" */
export function describeTally(tally: Tally): string {
  const byService = new Map<string, string[]>();
  for (const key of [...tally.keys()].sort()) {
    const [service, command] = key.split(' ') as [string, string];
    const { calls, failed } = tally.get(key)!;
    const failures = Object.entries(failed)
      .filter(([, count]) => count > 0)
      .map(([name, count]) => `${num(count)} ${FAILURE_LABELS[name] ?? name}`);
    const list = byService.get(service) ?? [];
    list.push(`${command} ${num(calls)}${failures.length ? ` (${failures.join(', ')})` : ''}`);
    byService.set(service, list);
  }
  const services = [...byService.keys()].sort(
    (a, b) => SERVICE_ORDER.indexOf(a) - SERVICE_ORDER.indexOf(b),
  );
  return services.length
    ? services.map((service) => `${service} ${byService.get(service)!.join(', ')}`).join('; ')
    : 'none';
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores (${os.availableParallelism()} available), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

export function printRelay(report: Report, load: RelayLoad, relay: RelaySection): void {
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
  report.table(rows);
  report.both();
  const posts = relay.calls.get('@connections PostToConnection')?.calls ?? 0;
  const dynamo = callsOf(relay.calls, 'DynamoDB');
  const other = callsOf(relay.calls) - posts - dynamo;
  report.both(
    `Under load the gateway relays at ${num((relay.loaded.gateway.framesPerSecond / relay.loaded.pipe.framesPerSecond) * 100, 1)}% of the pipe's rate; a single frame takes ${num(relay.single.gateway.p50Ms, 2)} ms (p50) against the pipe's ${num(relay.single.pipe.p50Ms, 2)} ms: the handler, the SDK's signed PostToConnection over HTTP and the gateway's own @connections endpoint. AWS calls during the measured gateway rounds: ${posts} PostToConnection, ${dynamo} DynamoDB${other ? `, ${other} other` : ''}, for ${relay.frames} frames.`,
  );
  report.both();
}

export function printOperations(
  report: Report,
  ops: OperationsRun,
  scans: number,
  unattributed: number,
): void {
  report.both('### 2. AWS calls per protocol operation');
  report.both();
  report.both(
    "Counted at the SDK by a middleware on the real clients (each call once, whatever its outcome), isolated per operation with the gateway quiescent before and after: what the cost model prices. Each operation's floor, and the reason for each call above it, are checked by test/e2e/calls-per-operation.test.ts.",
  );
  report.both();
  const rows = [
    ['operation', 'measured', 'DynamoDB units (read, write)'],
    ...ops.results.map((op) => {
      const units = unitsIn(op.measured);
      return [
        op.per === 'per operation' ? op.name : `${op.name}, ${op.per}`,
        describeTally(op.measured),
        `${num(units.read)}, ${num(units.write)}`,
      ];
    }),
  ];
  report.table(rows);
  report.both();
  report.both(`Scans in the whole run: ${scans}. Calls made outside any handler: ${unattributed}.`);
  report.both();
}

export function initRatio(run: BundlesRun, name: string): number {
  const empty = run.bundles.find((b) => b.name === 'empty')!;
  return run.bundles.find((b) => b.name === name)!.initMs / empty.initMs;
}

export const FUNCTIONS = ['connect', 'default', 'disconnect', 'deliver'];

export function printBundles(report: Report, run: BundlesRun): void {
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
  report.table(rows);
  report.both();
  report.both(
    `References: \`empty\` imports nothing; \`sdk-clients\` makes the two SDK clients every function makes (DynamoDB with its document client, and @connections) as lambda/runtime.ts makes them, and nothing else; \`${NO_SOURCE_MAPS}\` is the default bundle without --enable-source-maps.`,
  );
  report.both();
}

export function initExplanation(run: BundlesRun): string {
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

export function printCost(report: Report, model: CostModel, ops: OperationsRun): void {
  const a = model.assumptions;
  report.both('### 4. Modelled price');
  report.both();
  report.both(`AWS list prices, us-east-1, as of ${PRICES_AS_OF} (bench/prices.ts):`);
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
  report.table(priceRows);
  report.both();
  const steady = ops.byId('steadyFrame');
  report.both(
    `Assumptions: Lambda ${a.memoryMb} MB arm64 (the prod stage); each invocation runs ${a.msPerInvocation} ms plus ${a.msPerAwsCall} ms per AWS call it makes, taken one after another (an assumption for in-region round trips, not measured here: locally a steady-state frame's handler took ${num(median(steady.handlerMs.$default ?? []), 2)} ms over loopback). A message in per client frame, a message out per successful PostToConnection (frames ≤ 32 KB: one message each); $connect and $disconnect are not messages. DynamoDB units as the table reported them per call (ReturnConsumedCapacity), a failed conditional write as 1 WRU. No free tier.`,
  );
  report.both();
  report.both(`Per million steady-state relayed frames (${describeTally(steady.measured)} each):`);
  report.both();
  const frameRows = billRows(model.perMillionFrames, 'per million frames');
  report.table(frameRows);
  report.both();
  report.both(
    `Per peer-hour: a peer keeps one introduction socket and ${a.relaySockets} relay sockets open for the hour (each connected and closed once) and sends ${a.framesPerMinute} frames a minute on each relay socket; it sends one Join of ${MODEL_JOIN.k} keys that meets ${MODEL_JOIN.m} peers. A pair's opening and closing are shared by its two peers.`,
  );
  report.both();
  const hourRows = billRows(model.perPeerHour, 'per peer-hour');
  report.table(hourRows);
  report.both();
  for (const part of model.peerHourParts)
    report.both(`- ${part.name}: ${usd(price(part.bill).total)}`);
  report.both(
    `- so a million peer-hours cost ${usd(price(model.perPeerHour).total * 1e6)}; the relayed frames' messages are ${num((price(model.perPeerHour).messages / price(model.perPeerHour).total) * 100, 0)}% of it.`,
  );
  report.both();
}

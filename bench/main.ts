/**
 * `npm run bench`: what each message costs, measured on this machine. Never part of
 * `npm test`. One run prints:
 *
 *   1. relay throughput and p50/p99 latency through the local gateway (N pairs × M frames, real
 *      ws clients), beside a bare WebSocket pipe measured in the same run as the floor;
 *   2. AWS calls per protocol operation, counted at the SDK on the real clients (what the cost
 *      model prices; test/e2e/calls-per-operation.test.ts checks them against their floors), and
 *      the number of scans;
 *   3. each Lambda bundle's size and cold init time beside an empty handler's;
 *   4. the modelled price per million relayed frames and per peer-hour (bench/cost.ts,
 *      prices in bench/prices.ts);
 *   5. the targets, ✓ or ✗, with the reason for each one missed;
 *
 * and writes the figures as a README-ready markdown section (default: $TMPDIR/bench-results.md).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../local/gateway/index.js';
import { integer, readCommandLine, runCommand, UsageError, valued } from '../scripts/cli.js';
import { measureOperations, type OperationsRun } from '../testing/operations.js';
import { callsOf, SdkCallCounter } from '../testing/sdk-calls.js';
import { abuseReport, ASSUMPTIONS, describeCaps } from './abuse.js';
import { readAllStageCaps } from './abuse-inputs.js';
import { measureBundles, type BundlesRun } from './bundles.js';
import { openSocket } from './client.js';
import { costModel, DEFAULT_ASSUMPTIONS, type CostModel } from './cost.js';
import { describeFanOut, measureFanOut } from './fanout.js';
import { describeHeld, heldLoad, heldTargetMet, measureHeld, type HeldRun } from './held.js';
import {
  measureTransport,
  printTransport,
  transportTargets,
  type TransportRun,
} from './transport.js';
import { measureRelay, type RelayLoad, type RelaySection } from './relay.js';
import {
  FUNCTIONS,
  INIT_TARGET,
  initExplanation,
  initRatio,
  machine,
  printBundles,
  printCost,
  printOperations,
  printRelay,
  Report,
} from './report.js';
import { num } from './stats.js';

const SECTIONS = ['relay', 'calls', 'bundles', 'fanout', 'transport', 'held', 'abuse'];

/**
 * `--quick`: every section once at small sizes, so that CI runs them all (test/bench.test.ts) and
 * a section that breaks fails there; its figures are not measurements. Options given win.
 */
const QUICK = {
  pairs: 2,
  frames: 20,
  rounds: 1,
  window: 2,
  warmup: 2,
  samples: 1,
  fanOutPeers: 40,
  fanOutPostMs: 5,
};

const USAGE = `Usage: npm run bench -- [options]

Measures the signal server on this machine: relay throughput and latency through the local
gateway beside a bare WebSocket pipe, AWS calls per protocol operation,
bundle sizes and cold init, and the modelled price per million frames and per peer-hour.

  --pairs N              relay pairs (env BENCH_PAIRS; default 10)
  --frames M             frames each side sends per round (env BENCH_FRAMES; default 200)
  --rounds R             measured rounds (env BENCH_ROUNDS; default 5)
  --window W             frames in flight per direction (env BENCH_WINDOW; default 4)
  --bytes B              bytes per frame, 16 to 32768 (API Gateway’s frame limit; default 256)
  --warmup F             frames each side sends first, unmeasured (default 20)
  --samples S            cold-init samples per bundle (env BENCH_SAMPLES; default 31)
  --relay-sockets K      cost model: relay sockets per peer (default ${DEFAULT_ASSUMPTIONS.relaySockets})
  --frames-per-minute F  cost model: frames a peer sends per minute per relay socket (default ${DEFAULT_ASSUMPTIONS.framesPerMinute})
  --only LIST            comma-separated sections: ${SECTIONS.join(', ')} (default all)
  --quick                every section once at small sizes (CI): figures that are not measurements
  --markdown PATH        where to write the README section (default $TMPDIR/bench-results.md)
  -h, --help             show this help
`;

/** Reads the command line; throws UsageError on anything it does not understand. */
function parseOptions(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = readCommandLine(argv, {
    quick: { type: 'boolean' },
    ...valued(
      'pairs',
      'frames',
      'rounds',
      'window',
      'bytes',
      'warmup',
      'samples',
      'relay-sockets',
      'frames-per-minute',
      'only',
      'markdown',
    ),
  });
  const quick = values.quick ?? env.BENCH_QUICK === '1';
  const positive = (name: string, value: string | undefined, fallback: number) =>
    integer(`--${name}`, value, { min: 0, aboveMin: true }) ?? fallback;
  const sections = new Set((values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()));
  for (const section of sections)
    if (!SECTIONS.includes(section))
      throw new UsageError(`--only: unknown section ${section} (${SECTIONS.join(', ')})`);
  const load: RelayLoad = {
    pairs: positive('pairs', values.pairs ?? env.BENCH_PAIRS, quick ? QUICK.pairs : 10),
    frames: positive('frames', values.frames ?? env.BENCH_FRAMES, quick ? QUICK.frames : 200),
    rounds: positive('rounds', values.rounds ?? env.BENCH_ROUNDS, quick ? QUICK.rounds : 5),
    window: positive('window', values.window ?? env.BENCH_WINDOW, quick ? QUICK.window : 4),
    bytes: integer('--bytes', values.bytes, { min: 16, max: 32 * 1024 }) ?? 256,
    warmup: positive('warmup', values.warmup, quick ? QUICK.warmup : 20),
  };
  return {
    help: values.help ?? false,
    quick,
    load,
    samples: positive('samples', values.samples ?? env.BENCH_SAMPLES, quick ? QUICK.samples : 31),
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

/** What the sections measured; a section not run is undefined. */
interface Measured {
  relay?: RelaySection;
  ops?: OperationsRun;
  bundles?: BundlesRun;
  transport?: TransportRun;
  held?: HeldRun;
  scans: number;
  /** What the gateway logged at warn or error. */
  warnings: string[];
  abuseTargets?: [boolean, string][];
}

const ABUSE_MISS =
  'a cap or limit leaves the bill above the target: see the table above for the attack that binds (docs/deploying.md, "What an attacker can cost you")';

/** Section 6: the worst hour under abuse, from the synthesized templates' caps. */
function printAbuse(report: Report, quick: boolean, measured: Measured): void {
  console.error('[bench] abuse: synthesizing each stage (no bundling) to read its caps…');
  const stages = readAllStageCaps();
  const { lines, targets } = abuseReport(stages, quick);
  report.both('### The worst hour under abuse');
  report.both();
  report.both(
    'Dollars an hour one anonymous attacker can cost a stage, from its synthesized caps:',
  );
  report.both();
  for (const line of lines) report.both(line);
  report.both();
  for (const caps of stages) report.both(`- ${describeCaps(caps)}`);
  for (const assumption of ASSUMPTIONS) report.both(`- ${assumption}`);
  report.both();
  measured.abuseTargets = targets;
}

/** Sections 1 and 2, through one local gateway whose SDK clients are counted. */
async function measureThroughGateway(
  options: Options,
  report: Report,
  measured: Measured,
): Promise<void> {
  const counter = new SdkCallCounter();
  const gateway = await startGateway({
    logLevel: 'warn',
    logSink: (level, message, fields) =>
      measured.warnings.push(`${level}: ${message} ${JSON.stringify(fields)}`),
    instrumentClient: counter.instrument,
    wrapHandlers: counter.wrapHandlers,
  });
  try {
    if (options.sections.has('relay')) {
      console.error('[bench] relay: opening pairs and warming up…');
      measured.relay = await measureRelay(options.load, gateway, counter);
      printRelay(report, options.load, measured.relay);
    }
    if (options.sections.has('calls')) {
      console.error('[bench] counting AWS calls per operation…');
      measured.ops = await measureOperations(gateway, counter, openSocket);
      const unattributed =
        callsOf(counter.snapshot()) -
        callsOf(counter.snapshot('$connect')) -
        callsOf(counter.snapshot('$default')) -
        callsOf(counter.snapshot('$disconnect')) -
        callsOf(counter.snapshot('deliver'));
      measured.scans = counter.snapshot().get('DynamoDB Scan')?.calls ?? 0;
      printOperations(report, measured.ops, measured.scans, unattributed);
    }
  } finally {
    await gateway.close();
  }
  measured.scans = counter.snapshot().get('DynamoDB Scan')?.calls ?? 0;
}

/** Section 5: each target met or missed, with the reason for a miss. */
function printTargets(report: Report, measured: Measured): void {
  const { relay, ops, bundles, transport, held, scans } = measured;
  report.both('### 5. Targets');
  report.both();
  const line = (met: boolean, text: string, why?: string) => {
    report.both(`${met ? '✓' : '✗'} ${text}`);
    if (!met && why) report.both(`  why: ${why}`);
  };
  if (relay) {
    const dynamo = callsOf(relay.calls, 'DynamoDB');
    line(
      dynamo === 0,
      `zero DynamoDB requests per steady-state relayed frame (${dynamo} in the throughput rounds' ${relay.frames} frames)`,
      'a warm function found no cached peer for the socket',
    );
  }
  if (ops || relay)
    line(
      scans === 0,
      `zero scans (${scans} in the whole run)`,
      'a Scan was sent: the store must query or get instead',
    );
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
  if (held)
    line(
      heldTargetMet(held),
      `held-frame delivery keeps pace with the direct path (${num(held.ratio, 2)}× at ${held.load.rate} frames/s, ${held.load.postMs} ms per post), never closed, nothing lost`,
      'see section "Held frames"',
    );
  for (const [met, text] of measured.abuseTargets ?? []) line(met, text, ABUSE_MISS);
  report.both();
}

/** The report's opening: the machine, its load, and the command that reproduces the run. */
function printHeader(report: Report, argv: string[]): void {
  const startedAt = new Date();
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
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
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const report = new Report();
  printHeader(report, options.argv);
  const measured: Measured = { scans: 0, warnings: [] };
  if (options.sections.has('relay') || options.sections.has('calls'))
    await measureThroughGateway(options, report, measured);

  if (options.sections.has('bundles')) {
    measured.bundles = await measureBundles(
      { samples: options.samples, ...(options.quick ? { warmupRounds: 0 } : {}) },
      (line) => console.error(`[bench] ${line}`),
    );
    printBundles(report, measured.bundles);
  }

  if (options.sections.has('fanout')) {
    const fanOut = await measureFanOut(
      options.quick ? { peers: QUICK.fanOutPeers, postMs: QUICK.fanOutPostMs } : {},
      (line) => console.error(`[bench] ${line}`),
    );
    report.both('### Large fan-out');
    report.both();
    for (const text of describeFanOut(fanOut)) report.both(text);
    report.both();
  }

  if (options.sections.has('held')) {
    measured.held = await measureHeld(heldLoad(options.quick), (line) =>
      console.error(`[bench] ${line}`),
    );
    report.both('### Held frames against the direct path');
    report.both();
    for (const text of describeHeld(measured.held)) report.both(text);
    report.both();
  }

  if (options.sections.has('transport')) {
    measured.transport = await measureTransport(
      (line) => console.error(`[bench] ${line}`),
      options.quick,
    );
    printTransport(report, measured.transport);
  }

  if (options.sections.has('abuse')) printAbuse(report, options.quick, measured);

  if (measured.ops) {
    const model: CostModel = costModel(measured.ops, {
      ...DEFAULT_ASSUMPTIONS,
      relaySockets: options.relaySockets,
      framesPerMinute: options.framesPerMinute,
      memoryMb: measured.bundles?.memorySize.prod ?? 512,
    });
    printCost(report, model, measured.ops);
  }

  printTargets(report, measured);
  const { warnings } = measured;
  if (warnings.length) {
    report.print(
      `The gateway logged ${warnings.length} warnings or errors; the first: ${warnings[0]}`,
    );
  }
  writeFileSync(options.markdown, `${report.md.join('\n').replace(/\n{3,}/g, '\n\n')}\n`);
  report.print(`README section written to ${options.markdown}`);
}

await runCommand(USAGE, main);

/**
 * Each Lambda bundle's size and cold init time. The bundles come from SignalFunction itself
 * (synth.ts, in a child process), so they are built with exactly the stack's bundling options.
 *
 * Cold init is timed in a fresh `node` per sample, with the function's environment (NODE_OPTIONS
 * as deployed, dummies for the rest): from process start to the handler exported, which takes
 * the bundle's import and, at its module scope, the settings read and the SDK clients made.
 * Samples run round-robin over the bundles, so a noisy moment hits them all alike; the first
 * rounds only warm the file cache and are dropped.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import type { SynthOutput } from './synth.js';
import { median } from './stats.js';

const run = promisify(execFile);

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The row of the default bundle run without NODE_OPTIONS=--enable-source-maps. */
export const NO_SOURCE_MAPS = 'default, no NODE_OPTIONS';

export interface BundleResult {
  name: string;
  entry: string;
  bytes: number;
  /** index.mjs and index.mjs.map deflated: about what the deployment zip holds. */
  zippedBytes: number;
  /** Median ms from process start to the handler exported. */
  initMs: number;
  /** Median ms of the import alone (the bundle's evaluation, client construction included). */
  importMs: number;
  /** Median CPU ms (user + system) of the process by then: less sensitive to a busy machine. */
  cpuMs: number;
  samples: number;
}

export interface BundlesRun {
  bundles: BundleResult[];
  memorySize: Record<string, number>;
  nodeOptions: string;
}

/** What each sample runs: performance.now() counts from the process's start. */
const PROBE = `const started = performance.now();
const module = await import(process.argv[2]);
const exported = performance.now();
if (typeof module.handler !== 'function') throw new Error('no handler exported');
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ initMs: exported, importMs: exported - started, cpuMs: (cpu.user + cpu.system) / 1000 }));
`;

/** Dummies for what the functions read at start-up; nothing is called during init. */
const DUMMY_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SESSION_TOKEN: 'bench',
  TABLE_NAME: 'cevitxe-signal-bench',
  MANAGEMENT_ENDPOINT: 'https://abcdef1234.execute-api.us-east-1.amazonaws.com/bench',
  DELIVER_FUNCTION_NAME: 'cevitxe-signal-bench-deliver',
  LIMITS: '{}',
  LOG_LEVEL: 'info',
  STAGE: 'bench',
  // Lambda runs Node.js 24, where the SDK has nothing to warn about; this machine may not.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export async function measureBundles(
  options: { samples: number; warmupRounds?: number },
  progress: (line: string) => void = () => undefined,
): Promise<BundlesRun> {
  const outdir = mkdtempSync(join(tmpdir(), 'signal-bench-'));
  try {
    progress('bundling through SignalFunction (cdk synth of a bench stack)…');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench/synth.ts'), outdir],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    const synth = JSON.parse(stdout) as SynthOutput;
    // The default function once more without NODE_OPTIONS: what loading its source map costs.
    const plain = synth.bundles.find((bundle) => bundle.name === 'default');
    if (plain) {
      const environment = { ...plain.environment };
      delete environment.NODE_OPTIONS;
      synth.bundles.push({ ...plain, name: NO_SOURCE_MAPS, environment });
    }
    const probe = join(outdir, 'probe.mjs');
    writeFileSync(probe, PROBE);

    const samples = new Map<string, { initMs: number; importMs: number; cpuMs: number }[]>(
      synth.bundles.map((bundle) => [bundle.name, []]),
    );
    const warmup = options.warmupRounds ?? 2;
    progress(`cold init: ${options.samples} samples per bundle, round-robin…`);
    for (let round = 0; round < warmup + options.samples; round++) {
      for (const bundle of synth.bundles) {
        const file = pathToFileURL(join(bundle.dir, 'index.mjs')).href;
        const { stdout: out } = await run(process.execPath, [probe, file], {
          cwd: outdir,
          env: { PATH: process.env.PATH, ...DUMMY_ENVIRONMENT, ...bundle.environment },
        });
        if (round >= warmup)
          samples
            .get(bundle.name)!
            .push(JSON.parse(out) as { initMs: number; importMs: number; cpuMs: number });
      }
    }

    const bundles = synth.bundles.map((bundle): BundleResult => {
      const code = join(bundle.dir, 'index.mjs');
      const map = join(bundle.dir, 'index.mjs.map');
      const taken = samples.get(bundle.name)!;
      return {
        name: bundle.name,
        entry: bundle.entry,
        bytes: statSync(code).size,
        zippedBytes:
          deflateRawSync(readFileSync(code), { level: 9 }).length +
          deflateRawSync(readFileSync(map), { level: 9 }).length,
        initMs: median(taken.map((one) => one.initMs)),
        importMs: median(taken.map((one) => one.importMs)),
        cpuMs: median(taken.map((one) => one.cpuMs)),
        samples: taken.length,
      };
    });
    return {
      bundles,
      memorySize: synth.memorySize,
      nodeOptions: synth.bundles[0]?.environment.NODE_OPTIONS ?? '',
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * `npm run load`: the signal server under load through the local gateway (testing/load.ts),
 * checked for correctness, not timed. Prints its figures; exits 1 on any violation.
 */
import { seedFrom } from '../testing/random.js';
import { DEFAULTS, runLoad, type LoadOptions } from '../testing/load.js';
import { integer, isMain, readCommandLine, runCommand, valued } from './cli.js';

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
  -h, --help              show this help`;

/** Reads the command line; throws UsageError on anything it does not understand. */
function parseOptions(argv: string[]): LoadOptions | undefined {
  const { values } = readCommandLine(
    argv,
    valued('peers', 'keys', 'pairs', 'frames', 'held', 'seed', 'dynamodb-endpoint', 'timeout'),
  );
  if (values.help) return undefined;
  const count = (name: keyof typeof values, fallback: number) =>
    integer(`--${name}`, values[name] as string | undefined) ?? fallback;
  return {
    peers: count('peers', DEFAULTS.peers),
    keys: Math.max(1, count('keys', DEFAULTS.keys)),
    pairs: count('pairs', DEFAULTS.pairs),
    frames: count('frames', DEFAULTS.frames),
    held: count('held', DEFAULTS.held),
    seed: integer('--seed', values.seed) ?? seedFrom('LOAD_SEED'),
    timeoutMs: count('timeout', DEFAULTS.timeoutMs / 1000) * 1000,
    ...(values['dynamodb-endpoint'] ? { dynamoDbEndpoint: values['dynamodb-endpoint'] } : {}),
    progress: (line) => console.error(`  … ${line}`),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const { seed } = options;
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
    return 1;
  }
  console.log('\n✓ every introduction correct, every frame delivered exactly once, nothing left');
  return 0;
}

if (isMain(import.meta.url)) await runCommand(USAGE, main);

/**
 * `npm run reorder`: how often bursts of frames on one relay socket arrive out of order through
 * the local gateway (testing/reorder.ts). Not a test: it prints rates; it exits 1 only if
 * a frame is lost or duplicated (exactly once is guaranteed; order is not).
 */
import { DEFAULTS, measureReorder, type ReorderOptions, type Row } from '../testing/reorder.js';
import {
  decimal,
  integer,
  isMain,
  oneOf,
  readCommandLine,
  runCommand,
  UsageError,
  valued,
} from './cli.js';

const USAGE = `Usage: npm run reorder -- [--pairs N] [--sizes 2,5,10] [--bursts N] [--jitter MS] [--path direct|held] [--dynamodb-endpoint URL]

Measures how often bursts of frames on one relay socket arrive out of order through the local
gateway (defaults: ${DEFAULTS.pairs} pairs, sizes ${DEFAULTS.sizes.join(',')}, ${DEFAULTS.bursts} bursts each; held path 3 bursts).
--jitter MS delays each message invocation by a random 0–MS ms first: a model of Lambda's
scheduling spread on AWS, which the local gateway (one event loop) does not have.`;

const percent = (part: number, whole: number) =>
  whole === 0 ? '–' : `${((100 * part) / whole).toFixed(part && part * 1000 < whole ? 2 : 1)}%`;

/** The rows as a table, one line per path and burst size. */
function formatRows(rows: Row[]): string {
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

/** Reads the command line; throws UsageError on anything it does not understand. */
function parseOptions(argv: string[]): ReorderOptions | undefined {
  const { values } = readCommandLine(
    argv,
    valued('pairs', 'sizes', 'bursts', 'jitter', 'path', 'dynamodb-endpoint'),
  );
  if (values.help) return undefined;
  const positive = { min: 1 };
  const size = (text: string) => {
    const n = integer('--sizes', text, positive);
    if (n === undefined) throw new UsageError('--sizes must be whole numbers separated by commas');
    return n;
  };
  const path = oneOf('--path', values.path, ['direct', 'held'] as const);
  return {
    pairs: integer('--pairs', values.pairs, positive) ?? DEFAULTS.pairs,
    sizes: values.sizes ? values.sizes.split(',').map(size) : DEFAULTS.sizes,
    bursts: integer('--bursts', values.bursts, positive) ?? DEFAULTS.bursts,
    jitterMs: decimal('--jitter', values.jitter, { unit: 'of milliseconds' }) ?? DEFAULTS.jitterMs,
    paths: path ? [path] : DEFAULTS.paths,
    ...(values['dynamodb-endpoint'] ? { dynamoDbEndpoint: values['dynamodb-endpoint'] } : {}),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    console.log(USAGE);
    return 0;
  }
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
    return 1;
  }
  console.log('\n✓ every frame delivered exactly once');
  return 0;
}

if (isMain(import.meta.url)) await runCommand(USAGE, main);

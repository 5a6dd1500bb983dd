/**
 * The command-line helper of every command (npm start, bench, smoke, load, reorder): options
 * read strictly one way, numbers checked one way, and one way to run a command: --help prints
 * the usage, a usage error says what is wrong and exits 2, a failure exits 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad input on the command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Reads `argv` against `options` (and -h/--help); an unknown option, a missing value or (unless
 * `positionals`) an argument that is not an option is a UsageError.
 */
export function readCommandLine<O extends OptionsConfig>(
  argv: string[],
  options: O,
  { positionals = false }: { positionals?: boolean } = {},
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, ...HELP },
      strict: true,
      allowPositionals: positionals,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Options that each take a value, by name: `valued('pairs', 'frames')`. */
export function valued<const N extends string>(...names: N[]) {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as Record<
    N,
    { type: 'string' }
  >;
}

interface Range {
  /** @default 0 */
  min?: number;
  max?: number;
  /** The minimum itself is refused (a positive number). @default false */
  aboveMin?: boolean;
  /** Said after the number in the message, e.g. 'of milliseconds'. */
  unit?: string;
}

function checked(name: string, value: string, whole: boolean, range: Range): number {
  const { min = 0, max, aboveMin = false, unit } = range;
  const n = Number(value);
  const fits =
    Number.isFinite(n) &&
    (!whole || Number.isInteger(n)) &&
    (aboveMin ? n > min : n >= min) &&
    (max === undefined || n <= max);
  if (fits) return n;
  const kind = `${whole ? 'a whole number' : 'a number'}${unit ? ` ${unit}` : ''}`;
  const bounds =
    max !== undefined
      ? `from ${min} to ${max}`
      : aboveMin && min === 0
        ? 'above 0'
        : aboveMin
          ? `above ${min}`
          : `${min} or more`;
  throw new UsageError(`${name} must be ${kind}, ${bounds}, not ${JSON.stringify(value)}`);
}

/** A whole-number option (`name` as shown, e.g. '--pairs'); absent or empty: undefined. */
export function integer(name: string, value: string | undefined, range: Range = {}) {
  return value === undefined || value.trim() === '' ? undefined : checked(name, value, true, range);
}

/** A number option, fractions allowed; absent or empty: undefined. */
export function decimal(name: string, value: string | undefined, range: Range = {}) {
  return value === undefined || value.trim() === ''
    ? undefined
    : checked(name, value, false, range);
}

/** One of a few words, e.g. --form path|query; absent: undefined. */
export function oneOf<const W extends string>(
  name: string,
  value: string | undefined,
  words: readonly W[],
): W | undefined {
  if (value === undefined) return undefined;
  if ((words as readonly string[]).includes(value)) return value as W;
  throw new UsageError(`${name} must be ${words.join(' or ')}, not ${JSON.stringify(value)}`);
}

/** True when this module is the script Node.js was started with (not imported by a test). */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

/**
 * Runs a command: `main` returns its exit status (or nothing for 0). A UsageError prints with a
 * pointer to --help (or, with `usageOnError`, the whole usage) and exits 2; any other error
 * prints and exits 1.
 */
export async function runCommand(
  usage: string,
  main: () => Promise<number | void>,
  { usageOnError = false }: { usageOnError?: boolean } = {},
): Promise<void> {
  // The AWS SDK warns on Node.js 20 that releases after January 2027 will need Node.js 22. The
  // versions are pinned by the lockfile, so the nine-line notice would only bury the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(
        usageOnError
          ? `${error.message}\n\n${usage}`
          : `${error.message}\nRun with --help for the options.`,
      );
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  }
}

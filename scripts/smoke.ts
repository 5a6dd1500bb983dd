/**
 * `npm run smoke -- <url>`: checks that a signal server works, from the outside, as a client
 * sees it: fish page, introduction, bad input, held frames, relay both ways and close
 * (testing/smoke/, which test/smoke.test.ts runs against the local gateway). Safe against
 * production: every run uses ids and keys of its own and closes every socket it opens.
 *
 * Exit status: 0 when every check passed, 1 when one failed (the message names it), 2 on a
 * usage error. Run with --help for the options.
 */
import {
  DEFAULT_TIMEOUT_MS,
  resolveTarget,
  runSmoke,
  type SmokeOptions,
} from '../testing/smoke/index.js';
import { errorText } from '../testing/socket.js';
import { integer, isMain, oneOf, readCommandLine, runCommand, UsageError } from './cli.js';

const USAGE = `Usage: npm run smoke -- <url> [--timeout ms] [--token T] [--form path|query] [--skip-page]

Checks a cevitxe signal server end to end: fish page, introduction, bad input, held frames,
relay both ways and close propagation. Exits 0 when all pass, 1 naming the failed check.

<url> is one of:
  wss://dxxxx.cloudfront.net                      a stage's edge URL (path form)
  wss://abc.execute-api.eu-west-1.amazonaws.com/dev   a raw API Gateway stage URL (query form)
  ws://localhost:8080                             the local gateway, npm start (path form)
  ws://localhost:8080/local                       the local gateway's stage URL (query form)
A URL with a path (a stage) or an execute-api host uses the query form, any other the path
form (/introduction/:id, /connection/:a/:b/:key). http(s):// works as ws(s)://.

Options:
  --timeout <ms>      time allowed for each check (default ${DEFAULT_TIMEOUT_MS})
  --token <T>         sent as the token query parameter on every socket (env SMOKE_TOKEN)
  --form path|query   force the URL form
  --skip-page         skip the fish page (e.g. an API Gateway custom domain)
  -h, --help          show this help
`;

/** Reads the command line; throws UsageError on anything it does not understand. */
export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): { help: true } | { help: false; url: string; options: SmokeOptions } {
  const { values, positionals } = readCommandLine(
    argv,
    {
      timeout: { type: 'string' },
      token: { type: 'string' },
      form: { type: 'string' },
      'skip-page': { type: 'boolean' },
    },
    { positionals: true },
  );
  if (values.help) return { help: true };
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0 ? 'the server URL is missing' : 'give exactly one server URL',
    );
  const form = oneOf('--form', values.form, ['path', 'query'] as const);
  const token = values.token ?? (env.SMOKE_TOKEN || undefined);
  const timeoutMs = integer('--timeout', values.timeout, {
    min: 0,
    aboveMin: true,
    unit: 'of milliseconds',
  });
  return {
    help: false,
    url: positionals[0]!,
    options: {
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(token === undefined ? {} : { token }),
      ...(form === undefined ? {} : { form }),
      ...(values['skip-page'] ? { fishPage: false } : {}),
    },
  };
}

/** The command: prints the report, returns the exit status. */
async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), process.env);
  if (command.help) {
    console.log(USAGE);
    return 0;
  }
  resolveTarget(command.url, command.options); // a URL it cannot use is a usage error
  try {
    const report = await runSmoke(command.url, command.options);
    return report.ok ? 0 : 1;
  } catch (error) {
    console.error(`FAILED: ${errorText(error)}`);
    return 1;
  }
}

// The URL forms are the hard part of using it, so a usage error shows them.
if (isMain(import.meta.url)) await runCommand(USAGE, main, { usageOnError: true });

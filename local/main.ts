/**
 * `npm start`: the signal server on this machine. The local gateway (local/gateway/) runs the
 * very handlers deployed on AWS, with DynamoDB in process (dynalite, in memory), or the
 * DynamoDB API at AWS_ENDPOINT_URL_DYNAMODB (e.g. DynamoDB Local) when that is set.
 */
import { rewriteSource } from '../edge/source.js';
import { isLevel } from '../lambda/core/log.js';
import {
  decimal,
  integer,
  readCommandLine,
  runCommand,
  UsageError,
  valued,
} from '../scripts/cli.js';
import { startGateway } from './gateway/index.js';
import { throttleProblem, type ThrottleOptions } from './throttle.js';

const HELP = `Usage: npm start -- [options]

Runs the cevitxe signal server locally: the same handlers as on AWS, behind a local
API Gateway that refuses what API Gateway refuses.

  Clients (path form):  ws://localhost:PORT/introduction/:id
                        ws://localhost:PORT/connection/:localId/:remoteId/:key
  Stage URL (query):    ws://localhost:PORT/STAGE?type=introduction&localId=…
  Management API:       http://localhost:PORT/STAGE/@connections/{id}
  Fish page:            http://localhost:PORT/

Options:
  --port <n>             port to listen on (env PORT; default 8080; 0 = any free port)
  --host <address>       address to listen on (env HOST; default 127.0.0.1;
                         0.0.0.0 serves other machines too)
  --stage <name>         API Gateway stage name (default local)
  --idle-timeout <s>     close a socket after this many seconds without a frame (default 600)
  --max-connection <s>   close any socket after this many seconds (default 7200)
  --invocation-jitter <ms>
                         start each message invocation 0 to ms late, as Lambda's
                         scheduling may, so back-to-back frames can be handled out
                         of order (default 0)
  --throttle <rate,burst>
                         the stage's throttle: a token bucket of burst requests,
                         refilled at rate a second, over messages and handshakes;
                         a throttled message is dropped with API Gateway's
                         "Too Many Requests" frame, a throttled handshake gets 429
                         (default none; the dev stage deploys 50,100)
  --log-level <level>    debug, info, warn or error (default info; frames only at debug)
  -h, --help             show this help

Environment:
  AWS_ENDPOINT_URL_DYNAMODB  use this DynamoDB API (e.g. DynamoDB Local) instead of the
                             in-process one; the table is created when missing
  TABLE_NAME                 table name (default cevitxe-signal-STAGE)
  EDGE_SECRET                require this secret in the X-Origin-Verify header at $connect,
                             as a stage with requireEdgeSecret does: the edge (path form) adds
                             it, a handshake on the stage URL without it gets 403 (default
                             unset: no check)
`;

function throttle(value: string | undefined): ThrottleOptions | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',');
  const [rate, burst] = parts.map((part) => (part.trim() === '' ? NaN : Number(part)));
  const usage = `--throttle must be RATE,BURST (e.g. 50,100), not ${JSON.stringify(value)}`;
  if (parts.length !== 2 || rate === undefined || burst === undefined) throw new UsageError(usage);
  const problem = throttleProblem({ rate, burst });
  if (problem) throw new UsageError(`${usage}: ${problem}`);
  return { rate, burst };
}

/** A stage name API Gateway (and so the edge code that carries it) accepts. */
function stage(value: string | undefined): { stage?: string } {
  if (value === undefined) return {};
  try {
    rewriteSource(value);
  } catch (error) {
    throw new UsageError(`--stage: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { stage: value };
}

/** The one line to print when the gateway cannot start, or undefined for an unexpected error. */
function startProblem(error: unknown, port: number, host: string): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return `Port ${port} on ${host} is in use: stop what holds it, or choose another with --port (0 = any free port).`;
  if (code === 'EACCES')
    return `Not allowed to listen on port ${port} on ${host}: choose a port above 1023 with --port.`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return `Cannot listen on ${host}: it is not an address of this machine (--host).`;
  return undefined;
}

/** Reads the command line and the environment; throws UsageError on anything it does not understand. */
function parseOptions(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = readCommandLine(
    argv,
    valued(
      'port',
      'host',
      'stage',
      'idle-timeout',
      'max-connection',
      'invocation-jitter',
      'throttle',
      'log-level',
    ),
  );
  const logLevel = values['log-level'] ?? 'info';
  if (!isLevel(logLevel)) throw new UsageError('--log-level must be debug, info, warn or error');
  const seconds = { min: 0, aboveMin: true, unit: 'of seconds' };
  const ms = (value: number | undefined) => (value === undefined ? undefined : value * 1000);
  return {
    help: values.help ?? false,
    port: integer('--port', values.port ?? env.PORT, { min: 0, max: 65535 }) ?? 8080,
    host: values.host ?? env.HOST ?? '127.0.0.1',
    ...stage(values.stage),
    idleTimeoutMs: ms(decimal('--idle-timeout', values['idle-timeout'], seconds)),
    maxConnectionMs: ms(decimal('--max-connection', values['max-connection'], seconds)),
    invocationJitterMs: decimal('--invocation-jitter', values['invocation-jitter'], {
      unit: 'of milliseconds',
    }),
    throttle: throttle(values.throttle),
    logLevel,
    dynamoDbEndpoint: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
    tableName: env.TABLE_NAME || undefined,
    ...(env.EDGE_SECRET ? { access: { edgeSecret: env.EDGE_SECRET } } : {}),
  };
}

async function main(): Promise<number | void> {
  const { help, ...gatewayOptions } = parseOptions(process.argv.slice(2), process.env);
  if (help) {
    console.log(HELP);
    return;
  }
  const gateway = await startGateway(gatewayOptions).catch((error: unknown) => {
    const problem = startProblem(error, gatewayOptions.port, gatewayOptions.host);
    if (!problem) throw error;
    console.error(problem);
    return undefined;
  });
  if (!gateway) return 1;
  console.log(`🐟 Listening at http://localhost:${gateway.port}`);
  if (gatewayOptions.dynamoDbEndpoint)
    console.log(`   DynamoDB: ${gatewayOptions.dynamoDbEndpoint}, table ${gateway.tableName}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: closing sockets and stopping…`);
    gateway.close().then(
      () => console.log('Stopped.'),
      (error: unknown) => {
        console.error('Stopping failed:', error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await runCommand(HELP, main);

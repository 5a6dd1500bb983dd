/**
 * The local gateway: API Gateway's WebSocket API, its management API and Lambda's Invoke API
 * on one loopback port, running the very handlers that run on AWS (backend.ts).
 *
 * It is strict, not lenient: it refuses what API Gateway refuses, so that what passes locally
 * passes deployed. Each part reproduces rows of the table in docs/local-vs-aws.md: the handshake and `$connect` (upgrade.ts), a socket's frames, timers and close
 * (connection.ts, close-codes.ts), `@connections` (management.ts), Lambda's Invoke for the
 * deliver function (invoke.ts), and the CloudFront Function in front of it all (edge.ts).
 * This file only wires them together.
 */
import { createServer } from 'node:http';
import { createLogger } from '../../lambda/core/log.js';
import { readableSink } from '../log.js';
import { localHandlers, openTable } from './backend.js';
import { createEdge } from './edge.js';
import { optionsProblem, type Gateway, type GatewayOptions } from './options.js';
import { listen } from '../listen.js';
import { addressesOf, routeRequests, shutdown } from './server.js';
import { createContext, deliverFunctionName } from './state.js';
import { createUpgrade } from './upgrade.js';

export { CLOSE } from './close-codes.js';
export { tooManyRequestsFrame } from './connection.js';
export { MAX_MESSAGE_BYTES } from './management.js';
export type { Gateway, GatewayOptions } from './options.js';

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const problem = optionsProblem(options);
  if (problem) throw new RangeError(problem);
  const stage = options.stage ?? 'local';
  const tableName = options.tableName ?? `cevitxe-signal-${stage}`;
  const logLevel = options.logLevel ?? 'info';
  const baseLog = createLogger(logLevel, options.logSink ?? readableSink());
  const log = baseLog.with({ route: 'gateway' });
  const edge = createEdge(stage, log, options.access?.edgeSecret);

  // DynamoDB first: nothing listens until the table is there.
  const table = await openTable(options, tableName);
  const server = createServer();
  const address = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1').catch(
    async (error: unknown) => {
      await table.close();
      throw error;
    },
  );
  const { internal, url } = addressesOf(address);
  const managementEndpoint = `${internal}/${stage}`;
  const handlers = localHandlers(
    options,
    {
      stage,
      tableName,
      dynamoDbEndpoint: table.endpoint,
      managementEndpoint,
      deliverFunctionName: deliverFunctionName(stage),
      logLevel,
      lambdaEndpoint: internal,
    },
    baseLog,
  );
  const ctx = createContext(options, stage, log, handlers);
  // Attached in the turn listen() resolved in: no request can arrive before them.
  server.on('request', routeRequests(ctx, edge));
  const upgrade = createUpgrade(ctx, edge);
  server.on('upgrade', (req, socket, head) =>
    ctx.work.track('$connect', upgrade(req, socket, head)),
  );

  let closing: Promise<void> | undefined;
  const close = async () => {
    await shutdown(ctx, server, options.closeTimeoutMs ?? 10_000);
    await table.close();
  };
  return {
    url,
    port: address.port,
    stage,
    managementEndpoint,
    deliverFunctionName: ctx.deliverFunctionName,
    tableName,
    dynamoDbEndpoint: table.endpoint,
    wsUrl: (path = ctx.stagePath) => `ws://${url.slice('http://'.length)}${path}`,
    settled: () => ctx.work.settled(),
    close: () => (closing ??= close()),
  };
}

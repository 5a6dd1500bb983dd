/**
 * The local gateway as the end-to-end suites start it: on a free loopback port, on one of the
 * DynamoDB backends (its own dynalite, or a fresh table on DynamoDB Local), quiet, and recording
 * every event the handlers receive so that tests can await them.
 *
 *   describe.each(backends())('… ($name)', (backend) => {
 *     let gateway: TestGateway;
 *     beforeAll(async () => (gateway = await startTestGateway(backend)));
 *     afterAll(() => gateway.close());
 *   });
 *
 * Set GATEWAY_LOG=1 to see the gateway's log lines (debug level) on stderr.
 */
import type { HandlerResult, Handlers, WebSocketEvent } from '../../lambda/core/handlers.js';
import type { Fields, Level } from '../../lambda/core/log.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../local/gateway/index.js';
import { formatLine } from '../../local/log.js';
import { TAG_HEADER, type TestSocket } from '../../testing/socket.js';
import { uniqueTableName, type Backend } from './dynamodb.js';

export { backends, type Backend } from './dynamodb.js';

export type Route = 'connect' | 'message' | 'disconnect';

/** An event the gateway handed to a handler, with what the handler answered. */
export interface Recorded {
  route: Route;
  event: WebSocketEvent & Record<string, unknown>;
  result?: HandlerResult;
  error?: unknown;
}

export interface TestGateway extends Gateway {
  /** Every handler invocation so far, in the order they started. */
  readonly events: Recorded[];
  /** The gateway's log lines so far (always recorded at debug level). */
  readonly logs: string[];
  /** The first finished invocation of `route` matching `match`, waiting for it if needed. */
  event(
    route: Route,
    match?: (event: Recorded['event']) => boolean,
    ms?: number,
  ): Promise<Recorded>;
  /** The connection id the gateway gave a test socket (from its `$connect` event). */
  connectionId(socket: TestSocket): string;
  /** The socket's `$disconnect`, once its handler has returned. */
  disconnected(socket: TestSocket, ms?: number): Promise<Recorded>;
}

const printLogs = Boolean(process.env.GATEWAY_LOG);

export async function startTestGateway(
  backend: Backend,
  options: GatewayOptions = {},
): Promise<TestGateway> {
  const events: Recorded[] = [];
  const logs: string[] = [];
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());

  const record =
    (route: Route, handler: (event: WebSocketEvent) => Promise<HandlerResult>) =>
    async (event: WebSocketEvent): Promise<HandlerResult> => {
      const entry: Recorded = { route, event: event as Recorded['event'] };
      events.push(entry);
      try {
        entry.result = await handler(event);
        return entry.result;
      } catch (error) {
        entry.error = error;
        throw error;
      } finally {
        notify();
      }
    };

  const recording = (handlers: Handlers): Handlers => ({
    connect: record('connect', (event) => handlers.connect(event)),
    message: record('message', (event) => handlers.message(event)),
    disconnect: record('disconnect', (event) => handlers.disconnect(event)),
    deliver: (job) => handlers.deliver(job),
  });
  const wrap = options.wrapHandlers;

  const gateway = await startGateway({
    tableName: uniqueTableName('e2e'),
    ...(backend.endpoint ? { dynamoDbEndpoint: backend.endpoint } : {}),
    logLevel: 'debug',
    logSink: (level: Level, message: string, fields: Fields) => {
      const line = formatLine(level, message, fields);
      logs.push(line);
      if (printLogs) process.stderr.write(`${line}\n`);
    },
    ...options,
    // Recording sits outside any wrapper of the test, so it sees what the gateway hands over.
    wrapHandlers: (handlers) => recording(wrap ? wrap(handlers) : handlers),
  });

  function event(
    route: Route,
    match: (event: Recorded['event']) => boolean = () => true,
    ms = 5_000,
  ): Promise<Recorded> {
    const find = () =>
      events.find(
        (entry) =>
          entry.route === route &&
          (entry.result !== undefined || entry.error !== undefined) &&
          match(entry.event),
      );
    return new Promise<Recorded>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${route} event matched within ${ms} ms`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  function connectionId(socket: TestSocket): string {
    const connect = events.find(
      (entry) => entry.route === 'connect' && entry.event.headers?.[TAG_HEADER] === socket.tag,
    );
    if (!connect) throw new Error('no $connect event for this socket');
    return connect.event.requestContext.connectionId;
  }

  const disconnected = (socket: TestSocket, ms?: number) => {
    const id = connectionId(socket);
    return event('disconnect', (entry) => entry.requestContext.connectionId === id, ms);
  };

  return Object.assign(gateway, { events, logs, event, connectionId, disconnected });
}

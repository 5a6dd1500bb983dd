/**
 * The core wired to the real AWS SDK clients, every one mocked with aws-sdk-client-mock: no
 * network. Tests script DynamoDB's answers per command and key, and read back what was sent.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ROUTE_WAIT_MS, type Context, type Services } from '../../lambda/core/context.js';
import { LambdaDeliveryInvoker } from '../../lambda/core/delivery-invoker.js';
import { createHandlers, type WebSocketEvent } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS, MAX_CONNECTION_SECONDS, type Limits } from '../../lambda/core/limits.js';
import { createLogger, type Fields, type Level } from '../../lambda/core/log.js';
import { ManagementApiMessenger } from '../../lambda/core/messenger.js';
import { MetricCounter } from '../../lambda/core/metrics.js';
import type { ConnectionRecord, PeerRecord } from '../../lambda/core/store.js';
import { DynamoSignalStore } from '../../lambda/core/store/dynamo.js';

export const TABLE = 'signal-test';
export const DELIVER_FUNCTION = 'deliver-test';

export interface LogLine {
  level: Level;
  message: string;
  fields: Fields;
}

export type Harness = ReturnType<typeof harness>;

export interface HarnessOptions {
  limits?: Partial<Limits>;
  now?: () => number;
}

export function harness(options: HarnessOptions = {}) {
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const management = new ApiGatewayManagementApiClient({
    region: 'us-east-1',
    endpoint: 'https://example.execute-api.us-east-1.amazonaws.com/test',
    maxAttempts: 1,
  });
  const lambdaClient = new LambdaClient({ region: 'us-east-1', maxAttempts: 1 });
  const db = mockClient(dynamo);
  const api = mockClient(management);
  const lambda = mockClient(lambdaClient);
  // By default every write succeeds and every read finds nothing.
  db.resolves({});
  api.resolves({});
  lambda.resolves({ StatusCode: 202 });

  const now = options.now ?? (() => Date.now());
  const services: Services = {
    store: new DynamoSignalStore(dynamo, TABLE, now),
    messenger: new ManagementApiMessenger(management),
    deliveryInvoker: new LambdaDeliveryInvoker(DELIVER_FUNCTION, () => lambdaClient),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    now,
  };
  const logs: LogLine[] = [];
  const log = createLogger('debug', (level, message, fields) =>
    logs.push({ level, message, fields }),
  );
  const emf: Record<string, unknown>[] = [];
  const metrics = new MetricCounter();
  return {
    db,
    api,
    lambda,
    services,
    handlers: createHandlers(services, { log, stage: 'test', emitMetrics: (doc) => emf.push(doc) }),
    /** A context for calling core functions directly, as a route invocation begun at each call. */
    ctx: {
      ...services,
      log,
      metrics,
      get waitUntil() {
        return now() + ROUTE_WAIT_MS;
      },
    } satisfies Context,
    metrics,
    logs,
    emf,
    /** What was posted to each connection, decoded. */
    posts: () =>
      api.commandCalls(PostToConnectionCommand).map((call) => ({
        to: call.args[0].input.ConnectionId!,
        data: Buffer.from(call.args[0].input.Data as Uint8Array).toString(),
      })),
    /** The connections closed, in order. */
    closed: () =>
      api.commandCalls(DeleteConnectionCommand).map((call) => call.args[0].input.ConnectionId!),
  };
}

// ---- items as the store writes them ------------------------------------------------------------

/** An expiresAt far enough ahead that every read treats the item as live. */
export const liveUntil = () => Math.floor(Date.now() / 1000) + MAX_CONNECTION_SECONDS;

export const connKey = (id: string) => ({ pk: `C#${id}`, sk: 'C' });
export const peerKey = (id: string) => ({ pk: `P#${id}`, sk: 'P' });

export const connectionItem = (record: ConnectionRecord, expiresAt = liveUntil()) => ({
  ...connKey(record.connectionId),
  ...record,
  expiresAt,
});

export const peerItem = (
  peer: Omit<PeerRecord, 'version' | 'introducedSockets'> &
    Partial<Pick<PeerRecord, 'version' | 'introducedSockets'>>,
) => ({
  ...peerKey(peer.peerId),
  peerId: peer.peerId,
  current: peer.current,
  sockets: new Set(peer.sockets),
  session: peer.session,
  keys: peer.keys,
  version: peer.version ?? 1,
  ...(peer.introducedSockets?.length ? { introducedSockets: new Set(peer.introducedSockets) } : {}),
  ...(peer.reintroducedAt === undefined
    ? {}
    : { reintroducedAt: peer.reintroducedAt, reintroducedBy: peer.reintroducedBy }),
  expiresAt: liveUntil(),
});

// ---- errors as the SDK raises them -------------------------------------------------------------

export const gone = () =>
  new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } });

export const conditionFailed = () =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: { httpStatusCode: 400 },
  });

// ---- events ------------------------------------------------------------------------------------

export const connectEvent = (
  connectionId: string,
  query: Record<string, string>,
  headers: Record<string, string> = {},
): WebSocketEvent => ({
  requestContext: { routeKey: '$connect', connectionId, requestId: `req-${connectionId}` },
  queryStringParameters: query,
  headers,
});

export const messageEvent = (
  connectionId: string,
  body: string,
  requestTimeEpoch?: number,
): WebSocketEvent => ({
  requestContext: {
    routeKey: '$default',
    connectionId,
    requestId: `msg-${connectionId}`,
    ...(requestTimeEpoch === undefined ? {} : { requestTimeEpoch }),
  },
  body,
});

export const disconnectEvent = (connectionId: string): WebSocketEvent => ({
  requestContext: {
    routeKey: '$disconnect',
    connectionId,
    requestId: `bye-${connectionId}`,
    disconnectStatusCode: 1000,
  },
});

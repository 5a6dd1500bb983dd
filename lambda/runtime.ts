/**
 * Builds the handlers' services from real AWS SDK clients. On Lambda the settings come from the
 * environment (read once per cold start; a missing variable fails loudly); the local gateway
 * passes them directly, with its own endpoints.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { boundByDeadlines, httpHandler } from './clients.js';
import type { AccessPolicy } from './core/access.js';
import type { Services } from './core/context.js';
import { withinInvocation } from './core/deadline.js';
import { LambdaDeliveryInvoker, type DeliveryInvoker } from './core/delivery-invoker.js';
import { ENVIRONMENT } from './core/environment.js';
import {
  createHandlers,
  type HandlerOptions,
  type HandlerResult,
  type Handlers,
  type WebSocketEvent,
} from './core/handlers.js';
import { INTRODUCTION_CONCURRENCY } from './core/introduction.js';
import { DEFAULT_LIMITS, type Limits } from './core/limits.js';
import { createLogger, isLevel, type Level, type Logger } from './core/log.js';
import { ManagementApiMessenger } from './core/messenger.js';
import { DynamoSignalStore } from './core/store/dynamo.js';

export interface RuntimeSettings {
  tableName: string;
  /** The stage's management (callback) URL: https://{apiId}.execute-api.{region}.amazonaws.com/{stage} */
  managementEndpoint: string;
  /** The deliver function, invoked asynchronously after a pairing. */
  deliverFunctionName: string;
  limits: Limits;
  logLevel: Level;
  stage: string;
  /** Optional checks at $connect (EDGE_SECRET; ALLOWED_ORIGINS, comma-separated; CONNECT_TOKEN). */
  access?: AccessPolicy;
}

/** An AWS SDK client the handlers send through. */
export type SdkClient = DynamoDBClient | ApiGatewayManagementApiClient | LambdaClient;

/** Overrides for running outside Lambda: local endpoints and fake credentials. */
export interface ClientOverrides {
  dynamoDbEndpoint?: string;
  lambdaEndpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * DynamoDB is a real table (an AWS endpoint): its client takes the default region and
   * credential chain, not `region` and `credentials`, which are for the local endpoints.
   */
  dynamoDbUsesDefaultCredentials?: boolean;
  /** Called with each SDK client as it is made, e.g. to add a middleware (npm run bench counts calls). */
  instrument?: (client: SdkClient) => void;
}

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** Reads a LIMITS JSON object: every known limit a positive integer, defaults for the rest. */
export function parseLimits(text: string | undefined): Limits {
  if (!text) return DEFAULT_LIMITS;
  let given: unknown;
  try {
    given = JSON.parse(text);
  } catch (error) {
    throw new Error('LIMITS must be a JSON object', { cause: error });
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new Error('LIMITS must be a JSON object');
  for (const [name, value] of Object.entries(given)) {
    if (!LIMIT_NAMES.includes(name as keyof Limits))
      throw new Error(`LIMITS: unknown limit ${name}`);
    if (!Number.isInteger(value) || (value as number) <= 0)
      throw new Error(`LIMITS: ${name} must be a positive integer`);
  }
  return { ...DEFAULT_LIMITS, ...(given as Partial<Limits>) };
}

/** The Lambda environment, checked once at start-up. */
export function settingsFromEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const required = [ENVIRONMENT.tableName, ENVIRONMENT.managementEndpoint];
  const missing = required.filter((name) => !env[name]);
  if (missing.length) throw new Error(`missing environment variables: ${missing.join(', ')}`);
  const logLevel = env[ENVIRONMENT.logLevel] ?? 'info';
  if (!isLevel(logLevel))
    throw new Error(`${ENVIRONMENT.logLevel} must be debug, info, warn or error`);
  const token = env[ENVIRONMENT.connectToken];
  const edgeSecret = env[ENVIRONMENT.edgeSecret];
  return {
    tableName: env[ENVIRONMENT.tableName]!,
    managementEndpoint: env[ENVIRONMENT.managementEndpoint]!,
    // Only the $connect function invokes it; the others never read it.
    deliverFunctionName: env[ENVIRONMENT.deliverFunctionName] ?? '',
    limits: parseLimits(env[ENVIRONMENT.limits]),
    logLevel,
    stage: env[ENVIRONMENT.stage] ?? 'unknown',
    access: {
      allowedOrigins: (env[ENVIRONMENT.allowedOrigins] ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
      ...(token ? { token } : {}),
      ...(edgeSecret ? { edgeSecret } : {}),
    },
  };
}

const clientCommon = (overrides: ClientOverrides) => ({
  ...(overrides.region ? { region: overrides.region } : {}),
  ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
});

/**
 * The most calls one invocation has in flight on a client: introductions are posted 64 at a
 * time, and each may read DynamoDB when its socket answers 410. Each client gets that many sockets.
 */
const CALLS_IN_FLIGHT = INTRODUCTION_CONCURRENCY;

/** Makes the deliver function's invoker from the settings and the client overrides. */
export type DeliveryInvokerFactory = (
  settings: RuntimeSettings,
  overrides: ClientOverrides,
) => DeliveryInvoker;

/**
 * Invokes the deliver function through Lambda. Only the $connect function pairs sockets, so only
 * it defers: the other functions leave this out, and with it the Lambda client, whose code would
 * otherwise sit in their bundles and slow their cold starts (npm run bench measures it).
 */
export const lambdaDeliveryInvoker: DeliveryInvokerFactory = (settings, overrides) =>
  new LambdaDeliveryInvoker(settings.deliverFunctionName, ({ LambdaClient }) => {
    if (!settings.deliverFunctionName)
      throw new Error(`${ENVIRONMENT.deliverFunctionName} is not set for this function`);
    const lambda = boundByDeadlines(
      new LambdaClient({
        ...clientCommon(overrides),
        ...(overrides.lambdaEndpoint ? { endpoint: overrides.lambdaEndpoint } : {}),
        requestHandler: httpHandler(CALLS_IN_FLIGHT),
      }),
    );
    overrides.instrument?.(lambda);
    return lambda;
  });

/** For the functions that never pair sockets. */
const noDeliveryInvoker: DeliveryInvokerFactory = () => ({
  deliverLater: () =>
    Promise.reject(new Error('only the $connect function invokes the deliver function')),
});

function buildServices(
  settings: RuntimeSettings,
  overrides: ClientOverrides,
  now: () => number,
  makeDeliveryInvoker: DeliveryInvokerFactory,
): Services {
  const common = clientCommon(overrides);
  const dynamo = boundByDeadlines(
    new DynamoDBClient({
      ...(overrides.dynamoDbUsesDefaultCredentials ? {} : common),
      ...(overrides.dynamoDbEndpoint ? { endpoint: overrides.dynamoDbEndpoint } : {}),
      requestHandler: httpHandler(CALLS_IN_FLIGHT),
    }),
  );
  overrides.instrument?.(dynamo);
  const db = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const management = boundByDeadlines(
    new ApiGatewayManagementApiClient({
      ...common,
      endpoint: settings.managementEndpoint,
      requestHandler: httpHandler(CALLS_IN_FLIGHT),
    }),
  );
  overrides.instrument?.(management);
  return {
    store: new DynamoSignalStore(db, settings.tableName, now),
    messenger: new ManagementApiMessenger(management),
    deliveryInvoker: makeDeliveryInvoker(settings, overrides),
    limits: settings.limits,
    now,
    ...(settings.access ? { access: settings.access } : {}),
  };
}

/** Every service, the deliver function's invoker included (the local gateway, tests). */
export function createServices(
  settings: RuntimeSettings,
  overrides: ClientOverrides = {},
  now: () => number = Date.now,
): Services {
  return buildServices(settings, overrides, now, lambdaDeliveryInvoker);
}

/** What Lambda passes each invocation beside its event: the part the handlers read. */
export interface LambdaInvocation {
  getRemainingTimeInMillis(): number;
}

/**
 * The AWS calls of an invocation end this long before Lambda's timeout, leaving the handler time
 * to log and return: a route function that Lambda kills makes API Gateway write its
 * internal-error frame to the client, into a relay stream too.
 */
export const INVOCATION_MARGIN_MS = 1_000;

/** The handlers as Lambda calls them: each invocation's AWS calls end within its time. */
export interface LambdaHandlers {
  connect(event: WebSocketEvent, invocation: LambdaInvocation): Promise<HandlerResult>;
  message(event: WebSocketEvent, invocation: LambdaInvocation): Promise<HandlerResult>;
  disconnect(event: WebSocketEvent, invocation: LambdaInvocation): Promise<HandlerResult>;
  deliver(job: unknown, invocation: LambdaInvocation): Promise<void>;
}

/** Runs each handler within its invocation's remaining time less INVOCATION_MARGIN_MS. */
export function withinInvocations(handlers: Handlers): LambdaHandlers {
  const within = <R>(invocation: LambdaInvocation, work: () => Promise<R>) =>
    withinInvocation(invocation.getRemainingTimeInMillis() - INVOCATION_MARGIN_MS, work);
  return {
    connect: (event, invocation) => within(invocation, () => handlers.connect(event)),
    message: (event, invocation) => within(invocation, () => handlers.message(event)),
    disconnect: (event, invocation) => within(invocation, () => handlers.disconnect(event)),
    deliver: (job, invocation) => within(invocation, () => handlers.deliver(job)),
  };
}

/** The handlers over real SDK clients, as Lambda runs them (tests aim the clients elsewhere). */
export function lambdaHandlers(
  settings: RuntimeSettings,
  options: HandlerOptions,
  overrides: ClientOverrides = {},
  makeDeliveryInvoker: DeliveryInvokerFactory = noDeliveryInvoker,
): LambdaHandlers {
  const services = buildServices(settings, overrides, Date.now, makeDeliveryInvoker);
  return withinInvocations(createHandlers(services, options));
}

/**
 * The handlers as they run on Lambda: JSON logs and EMF metrics on stdout. Only the $connect
 * function passes `lambdaDeliveryInvoker`; for the others deferring is an error.
 */
export function handlersFromEnvironment(
  makeDeliveryInvoker: DeliveryInvokerFactory = noDeliveryInvoker,
): LambdaHandlers {
  const settings = settingsFromEnvironment();
  const log: Logger = createLogger(settings.logLevel);
  return lambdaHandlers(
    settings,
    { log, stage: settings.stage, emitMetrics: (emf) => console.log(JSON.stringify(emf)) },
    {},
    makeDeliveryInvoker,
  );
}

/**
 * Builds the handlers' services from real AWS SDK clients. On Lambda the settings come from the
 * environment (read once per cold start; a missing variable fails loudly); the local gateway
 * passes them directly, with its own endpoints.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AccessPolicy } from './core/access.js';
import type { Services } from './core/context.js';
import { LambdaDeliveryInvoker, type DeliveryInvoker } from './core/delivery-invoker.js';
import { ENVIRONMENT } from './core/environment.js';
import { createHandlers, type Handlers } from './core/handlers.js';
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
    const lambda = new LambdaClient({
      ...clientCommon(overrides),
      ...(overrides.lambdaEndpoint ? { endpoint: overrides.lambdaEndpoint } : {}),
    });
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
  const dynamo = new DynamoDBClient({
    ...(overrides.dynamoDbUsesDefaultCredentials ? {} : common),
    ...(overrides.dynamoDbEndpoint ? { endpoint: overrides.dynamoDbEndpoint } : {}),
  });
  overrides.instrument?.(dynamo);
  const db = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const management = new ApiGatewayManagementApiClient({
    ...common,
    endpoint: settings.managementEndpoint,
  });
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

/**
 * The handlers as they run on Lambda: JSON logs and EMF metrics on stdout. Only the $connect
 * function passes `lambdaDeliveryInvoker`; for the others deferring is an error.
 */
export function handlersFromEnvironment(
  makeDeliveryInvoker: DeliveryInvokerFactory = noDeliveryInvoker,
): Handlers {
  const settings = settingsFromEnvironment();
  const log: Logger = createLogger(settings.logLevel);
  return createHandlers(buildServices(settings, {}, Date.now, makeDeliveryInvoker), {
    log,
    stage: settings.stage,
    emitMetrics: (emf) => console.log(JSON.stringify(emf)),
  });
}

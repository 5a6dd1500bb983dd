/** What stands behind the gateway: the DynamoDB table and the handlers, with their AWS clients pointed here. */
import { createHandlers, type Handlers } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import type { Level, Logger } from '../../lambda/core/log.js';
import { createServices } from '../../lambda/runtime.js';
import {
  LOCAL_AWS,
  ensureTable,
  isLocalEndpoint,
  startDynalite,
  type LocalDynamo,
} from '../dynamodb.js';
import type { GatewayOptions } from './options.js';

export interface Table {
  /** The DynamoDB API endpoint the table is on. */
  readonly endpoint: string;
  /** Stops the in-process DynamoDB, if the gateway started one. */
  close(): Promise<void>;
}

/** The table, created when missing, on `options.dynamoDbEndpoint` or on a dynalite of its own. */
export async function openTable(options: GatewayOptions, tableName: string): Promise<Table> {
  let endpoint = options.dynamoDbEndpoint;
  let dynalite: LocalDynamo | undefined;
  if (!endpoint) {
    dynalite = await startDynalite();
    endpoint = dynalite.endpoint;
  }
  const close = async () => {
    await dynalite?.close();
  };
  try {
    await ensureTable(endpoint, tableName);
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, close };
}

export interface Backend {
  readonly stage: string;
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  readonly managementEndpoint: string;
  readonly deliverFunctionName: string;
  readonly logLevel: Level;
  /** Where the handlers' Lambda client invokes the deliver function: this gateway. */
  readonly lambdaEndpoint: string;
}

/** The handlers deployed on AWS, their SDK clients aimed at the table and at this gateway. */
export function localHandlers(options: GatewayOptions, backend: Backend, log: Logger): Handlers {
  const handlers = createHandlers(
    createServices(
      {
        tableName: backend.tableName,
        managementEndpoint: backend.managementEndpoint,
        deliverFunctionName: backend.deliverFunctionName,
        limits: { ...DEFAULT_LIMITS, ...options.limits },
        logLevel: backend.logLevel,
        stage: backend.stage,
        ...(options.access ? { access: options.access } : {}),
      },
      {
        ...LOCAL_AWS,
        dynamoDbEndpoint: backend.dynamoDbEndpoint,
        dynamoDbUsesDefaultCredentials: !isLocalEndpoint(backend.dynamoDbEndpoint),
        lambdaEndpoint: backend.lambdaEndpoint,
        ...(options.instrumentClient ? { instrument: options.instrumentClient } : {}),
      },
    ),
    { log, stage: backend.stage },
  );
  return options.wrapHandlers ? options.wrapHandlers(handlers) : handlers;
}

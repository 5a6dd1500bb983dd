/**
 * The local stand-ins for DynamoDB: dynalite in-process (in memory), or any DynamoDB API
 * endpoint given by URL: DynamoDB Local, or AWS itself (a real table, with the credentials of
 * the environment). Either way the table is created with the stack's key schema when missing.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { listen } from './listen.js';
import { backoff } from '../lambda/core/backoff.js';
import { TABLE_SCHEMA } from '../lambda/core/schema.js';

/** Credentials and region for local endpoints, which check neither. */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

/** Whether an endpoint is on this machine (dynalite, DynamoDB Local) rather than AWS itself. */
export function isLocalEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Region and credentials for a DynamoDB endpoint: fake ones on this machine; for a real table,
 * none, so that the SDK takes them from the environment (AWS_REGION, AWS_PROFILE, …).
 */
export const awsFor = (endpoint: string) => (isLocalEndpoint(endpoint) ? LOCAL_AWS : {});

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite on a free loopback port, in memory. */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const { port } = await listen(server, 0, '127.0.0.1');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      ),
  };
}

/** Creates the signal table at `endpoint` unless it exists. */
export async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  const client = new DynamoDBClient({ ...awsFor(endpoint), endpoint });
  try {
    try {
      await client.send(new DescribeTableCommand({ TableName: tableName }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    const { partitionKey, sortKey } = TABLE_SCHEMA;
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: partitionKey, AttributeType: 'S' },
          { AttributeName: sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
      }),
    );
    // Local tables are ready within milliseconds, real ones within seconds: poll with a growing
    // pause (the SDK waiter's first pause is 20 s).
    const status = await backoff(
      { first: 5, max: 1_000, until: Date.now() + 60_000 },
      async () =>
        (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table?.TableStatus,
      (status) => status !== 'ACTIVE',
    );
    if (status !== 'ACTIVE') throw new Error(`table ${tableName} is still ${status ?? 'missing'}`);
  } finally {
    client.destroy();
  }
}

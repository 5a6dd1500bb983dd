/**
 * The DynamoDB APIs the store suites run against: dynalite (always; each openStore starts its
 * own, in memory) and AWS's DynamoDB Local (started once per run by test/support/dynamodb-local.ts
 * when Java is available). Every openStore gets a fresh table with the stack's key schema
 * (TABLE_SCHEMA, shared with the CDK table).
 *
 *   describe.each(backends())('store on $name', (backend) => { ... openStore(backend) ... })
 *
 * backends() lists only what can run here. describeEachBackend() does the same and also shows
 * the DynamoDB Local variant as skipped, with the reason, when Java is missing.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, inject } from 'vitest';
import { LOCAL_AWS, ensureTable, startDynalite } from '../../local/dynamodb.js';
import type { SignalStore } from '../../lambda/core/store.js';
import { DynamoSignalStore } from '../../lambda/core/store/dynamo.js';

export type BackendName = 'dynalite' | 'DynamoDB Local';

export interface Backend {
  name: BackendName;
  /** Undefined: start your own dynalite. */
  endpoint?: string;
}

const SKIP_REASON =
  'DynamoDB Local is unavailable (Java is missing; see test/support/dynamodb-local.ts)';
let noted = false;

function dynamoDbLocalEndpoint(): string {
  const endpoint = inject('dynamoDbLocalEndpoint');
  if (!endpoint && !noted) {
    noted = true;
    console.warn(`[store tests] ${SKIP_REASON}: only dynalite runs.`);
  }
  return endpoint;
}

/** The DynamoDB APIs available to this run: dynalite always, DynamoDB Local when it started. */
export function backends(): Backend[] {
  const endpoint = dynamoDbLocalEndpoint();
  return [
    { name: 'dynalite' },
    ...(endpoint ? [{ name: 'DynamoDB Local' as const, endpoint }] : []),
  ];
}

/**
 * One describe per backend, titled `${title} (${name})`. Where DynamoDB Local is unavailable its
 * describe is registered as skipped, so the report says so instead of passing silently.
 */
export function describeEachBackend(title: string, body: (backend: Backend) => void): void {
  const available = backends();
  for (const backend of available) describe(`${title} (${backend.name})`, () => body(backend));
  if (!available.some((backend) => backend.name === 'DynamoDB Local')) {
    const backend: Backend = { name: 'DynamoDB Local', endpoint: '' };
    describe.skipIf(true)(`${title} (DynamoDB Local) — skipped: ${SKIP_REASON}`, () =>
      body(backend),
    );
  }
}

/** A table name no other test uses (DynamoDB Local shares one database per run). */
export function uniqueTableName(prefix = 'signal'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface OpenStore {
  store: SignalStore;
  endpoint: string;
  tableName: string;
  db: DynamoDBDocumentClient;
  /** Every low-level command sent through `db`, in order (e.g. 'QueryCommand', 'UpdateItemCommand'). */
  commands: string[];
  /** A store on the same table with another clock, e.g. one in the future. */
  withClock(clock: () => number): SignalStore;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  clock?: () => number;
  tablePrefix?: string;
}

/** A SignalStore on a fresh table of `backend`, starting dynalite when the backend needs it. */
export async function openStore(
  backend: Backend,
  options: OpenStoreOptions = {},
): Promise<OpenStore> {
  let stopDynalite: (() => Promise<void>) | undefined;
  let endpoint = backend.endpoint;
  if (endpoint === '') throw new Error(SKIP_REASON);
  if (endpoint === undefined) {
    const dynalite = await startDynalite();
    endpoint = dynalite.endpoint;
    stopDynalite = () => dynalite.close();
  }
  const tableName = uniqueTableName(options.tablePrefix);
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  try {
    await ensureTable(endpoint, tableName);
  } catch (error) {
    client.destroy();
    await stopDynalite?.();
    throw error;
  }
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommandNames' },
  );
  const db = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    store: new DynamoSignalStore(db, tableName, options.clock),
    endpoint,
    tableName,
    db,
    commands,
    withClock: (clock) => new DynamoSignalStore(db, tableName, clock),
    async close() {
      client.destroy();
      await stopDynalite?.();
    },
  };
}

/**
 * One table for the tests of a block, handed to `take` before them and closed after them; after
 * each test, no Scan was sent (the store reads by key and by index only).
 */
export function storePerBlock(backend: Backend, take: (s: OpenStore) => void): void {
  let store: OpenStore | undefined;
  beforeAll(async () => take((store = await openStore(backend))));
  afterAll(() => store?.close());
  afterEach(() => {
    expect(store?.commands).not.toContain('ScanCommand');
  });
}

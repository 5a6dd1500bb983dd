/**
 * The one in-memory world of the handlers, for the store and hardening tests: the real handlers
 * over a real DynamoDB API (dynalite or DynamoDB Local), with the management API and Lambda's
 * asynchronous invoke as in-memory stand-ins that can be made to fail (the real @connections path
 * is covered end to end through the local gateway). Faults are injected where AWS produces them:
 *
 * - DynamoDB: a middleware on the store's own SDK client fails chosen commands as the SDK does
 *   once its retries are used up (see ./db-faults.ts).
 * - The management API (testing/sockets.ts, the one in-memory messenger): `sockets.fail(...)`
 *   makes chosen posts or closes throw (429, 5xx) or answer 410; a socket removed from
 *   `sockets.open` without a `$disconnect` has vanished.
 * - The deliver function: invoked in the background like InvocationType Event and, like Lambda,
 *   retried twice when it fails.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach } from 'vitest';
import type { DeliveryInvoker, DeliveryJob } from '../../lambda/core/delivery-invoker.js';
import { createHandlers, type Handlers } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS, type Limits } from '../../lambda/core/limits.js';
import { createLogger, type Level } from '../../lambda/core/log.js';
import type { SignalStore } from '../../lambda/core/store.js';
import { DynamoSignalStore } from '../../lambda/core/store/dynamo.js';
import { LOCAL_AWS } from '../../local/dynamodb.js';
import { MemorySockets } from '../../testing/sockets.js';
import { openStore, type Backend, type OpenStore } from './dynamodb.js';
import { DbFaults } from './db-faults.js';

/**
 * Lambda's asynchronous invocation of the deliver function: accepted at once, run in the
 * background, retried up to twice when it fails (Lambda's default for async invocations).
 */
export class AsyncInvocations implements DeliveryInvoker {
  readonly jobs: DeliveryJob[] = [];
  /** Errors of failed attempts, in order. */
  readonly failures: unknown[] = [];
  handlers?: Handlers;
  retries = 2;
  /** Makes the next `deliverLater` calls themselves fail (Invoke throttled, 5xx). */
  failInvoke = 0;
  private readonly running = new Set<Promise<void>>();

  deliverLater(job: DeliveryJob): Promise<void> {
    if (this.failInvoke > 0) {
      this.failInvoke--;
      return Promise.reject(
        Object.assign(new Error('Rate exceeded (injected)'), {
          name: 'TooManyRequestsException',
          $metadata: { httpStatusCode: 429 },
        }),
      );
    }
    this.jobs.push(job);
    const run = (async () => {
      for (let attempt = 0; attempt <= this.retries; attempt++) {
        try {
          await this.handlers!.deliver(job);
          return;
        } catch (error) {
          this.failures.push(error);
        }
      }
    })().finally(() => this.running.delete(run));
    this.running.add(run);
    return Promise.resolve();
  }

  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}

export interface WorldOptions {
  limits?: Partial<Limits>;
  /** The store's clock (record expiry): e.g. one past every record's TTL. @default Date.now */
  storeClock?: () => number;
  /** Shares the sockets of another world, e.g. one whose store clock is in the future. */
  sockets?: MemorySockets;
}

export interface World {
  handlers: Handlers;
  sockets: MemorySockets;
  deliveries: AsyncInvocations;
  /** The store the handlers use, on its own SDK client with a fault middleware. */
  store: SignalStore;
  faults: DbFaults;
  /** Error lines the handlers logged ("handler failed", …), with their error names. */
  errors: { message: string; error?: string }[];
  /** Moves the handlers' clock (grace periods, patience), not the store's. */
  advance(ms: number): void;
  /** Runs `work` while the handlers' clock races (a second every 20 ms): every patience runs out. */
  impatiently<T>(work: () => Promise<T>): Promise<T>;
  connect(connectionId: string, query: Record<string, string>): Promise<number>;
  /** Runs $connect without opening the socket: it stays "inside its $connect" (410). */
  connectOnly(connectionId: string, query: Record<string, string>): Promise<number>;
  send(connectionId: string, body: string): Promise<void>;
  disconnect(connectionId: string): Promise<void>;
  introduce(connectionId: string, peerId: string): Promise<void>;
  relay(connectionId: string, localId: string, remoteId: string, key: string): Promise<void>;
  join(connectionId: string, ...keys: string[]): Promise<void>;
  leave(connectionId: string, ...keys: string[]): Promise<void>;
  /** Waits for every delivery still running. */
  settled(): Promise<void>;
  close(): void;
}

/** The handlers over `s`'s table, on a client of their own (so faults touch only them). */
export function openWorld(s: OpenStore, options: WorldOptions = {}): World {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: s.endpoint });
  const faults = new DbFaults(client);
  const db = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new DynamoSignalStore(db, s.tableName, options.storeClock);
  const sockets = options.sockets ?? new MemorySockets();
  const deliveries = new AsyncInvocations();
  let offset = 0;
  if (!options.sockets) sockets.clock = () => Date.now() + offset;
  const errors: World['errors'] = [];
  const log = createLogger('warn', (level: Level, message, fields) => {
    if (level === 'error') errors.push({ message, error: (fields.error as Error)?.name });
  });
  const handlers = createHandlers(
    {
      store,
      messenger: sockets,
      deliveryInvoker: deliveries,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      now: () => Date.now() + offset,
    },
    { log },
  );
  deliveries.handlers = handlers;
  let requests = 0;
  const context = (routeKey: string, connectionId: string) => ({
    routeKey,
    connectionId,
    requestId: `r${++requests}`,
    connectedAt: Date.now() + offset,
    requestTimeEpoch: Date.now() + offset,
  });
  const connectOnly = async (connectionId: string, query: Record<string, string>) =>
    (
      await handlers.connect({
        requestContext: context('$connect', connectionId),
        queryStringParameters: query,
      })
    ).statusCode;

  const world: World = {
    handlers,
    sockets,
    deliveries,
    store,
    faults,
    errors,
    advance: (ms) => {
      offset += ms;
    },
    async impatiently(work) {
      const racing = setInterval(() => (offset += 1_000), 20);
      try {
        return await work();
      } finally {
        clearInterval(racing);
      }
    },
    connectOnly,
    async connect(connectionId, query) {
      const status = await connectOnly(connectionId, query);
      // Writable only once $connect has returned 200, as on API Gateway.
      if (status === 200) {
        sockets.open.add(connectionId);
        sockets.active(connectionId);
      }
      return status;
    },
    async send(connectionId, body) {
      sockets.active(connectionId);
      await handlers.message({ requestContext: context('$default', connectionId), body });
    },
    async disconnect(connectionId) {
      sockets.open.delete(connectionId);
      await handlers.disconnect({ requestContext: context('$disconnect', connectionId) });
    },
    async introduce(connectionId, peerId) {
      expectOk(await world.connect(connectionId, { type: 'introduction', localId: peerId }));
    },
    async relay(connectionId, localId, remoteId, key) {
      expectOk(await world.connect(connectionId, { type: 'connection', localId, remoteId, key }));
    },
    join: (connectionId, ...keys) =>
      world.send(connectionId, JSON.stringify({ type: 'Join', join: keys })),
    leave: (connectionId, ...keys) =>
      world.send(connectionId, JSON.stringify({ type: 'Leave', leave: keys })),
    settled: () => deliveries.settled(),
    close: () => client.destroy(),
  };
  return world;
}

function expectOk(status: number) {
  if (status !== 200) throw new Error(`$connect answered ${status}`);
}

/** Introductions a socket received, parsed. */
export function introductionsOf(
  world: World,
  connectionId: string,
): { type: string; id: string; keys: string[] }[] {
  return world.sockets
    .received(connectionId)
    .map((data) => JSON.parse(data) as { type: string; id: string; keys: string[] })
    .filter((message) => message.type === 'Introduction');
}

export interface FreshWorld {
  /** The test's table, a fresh one. */
  s: OpenStore;
  /** The test's world over it. */
  w: World;
  /** Another world over the same table, settled and closed after the test too. */
  world: (options?: WorldOptions) => World;
}

/**
 * A fresh table and a world over it for each test of the block, handed to `take`; after the
 * test, every world made is settled and closed, and the table closed.
 *
 *   let s: OpenStore;
 *   let w: World;
 *   worldPerTest(backend, (fresh) => ({ s, w } = fresh));
 */
export function worldPerTest(backend: Backend, take: (fresh: FreshWorld) => void): void {
  let store: OpenStore | undefined;
  const worlds: World[] = [];
  beforeEach(async () => {
    const s = (store = await openStore(backend));
    const world = (options: WorldOptions = {}) => {
      const made = openWorld(s, options);
      worlds.push(made);
      return made;
    };
    take({ s, w: world(), world });
  });
  afterEach(async () => {
    for (const each of worlds.splice(0)) {
      await each.settled();
      each.close();
    }
    await store?.close();
  });
}

/**
 * The real handlers over a real DynamoDB API (dynalite or DynamoDB Local), with the management
 * API and Lambda's asynchronous invoke as in-memory stand-ins that can be made to fail. Faults are
 * injected where AWS produces them:
 *
 * - DynamoDB: a middleware on the store's own SDK client fails chosen commands as the SDK does
 *   once its retries are used up (see ./db-faults.ts).
 * - The management API: `sockets.fail(...)` makes chosen posts or closes throw (429, 5xx) or
 *   answer 410; a socket removed from `sockets.open` without a `$disconnect` has vanished.
 * - The deliver function: invoked in the background like InvocationType Event and, like Lambda,
 *   retried twice when it fails.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeliveryInvoker, DeliveryJob } from '../../lambda/core/delivery-invoker.js';
import { createHandlers, type Handlers } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS, type Limits } from '../../lambda/core/limits.js';
import { createLogger, type Level } from '../../lambda/core/log.js';
import type { Delivery, Messenger } from '../../lambda/core/messenger.js';
import type { SignalStore } from '../../lambda/core/store.js';
import { DynamoSignalStore } from '../../lambda/core/store/dynamo.js';
import { LOCAL_AWS } from '../../local/dynamodb.js';
import type { OpenStore } from './dynamodb.js';
import { DbFaults } from './db-faults.js';

export type SocketFault = 'gone' | 'throttled' | 'server error';

/** A management API call: PostToConnection, DeleteConnection, GetConnection. */
export type SocketOp = 'post' | 'close' | 'get';

interface SocketRule {
  op: SocketOp;
  match: (connectionId: string, data?: string) => boolean;
  times: number;
  fault: SocketFault;
}

/** An error as the management API client throws it once its own retries are used up. */
export function managementError(fault: Exclude<SocketFault, 'gone'>): Error {
  const [name, status] =
    fault === 'throttled' ? ['LimitExceededException', 429] : ['InternalServerError', 500];
  return Object.assign(new Error(`${name} (injected)`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 3 },
  });
}

/**
 * API Gateway's @connections: a socket can be written from the moment its $connect returned
 * until it closes; before and after, 410. Every post and close is recorded.
 */
export class Sockets implements Messenger {
  readonly open = new Set<string>();
  readonly posts: { to: string; data: string }[] = [];
  readonly closed: string[] = [];
  /** Every call, answered or failed, in order. */
  readonly calls: { op: SocketOp; to: string; outcome: Delivery | SocketFault }[] = [];
  private readonly rules: SocketRule[] = [];
  /** Runs before each call is answered: a test may change the world there. */
  beforeCall?: (op: SocketOp, connectionId: string, data?: string) => void;
  /** Awaited before each call is answered: a test may hold a call while others run. */
  delay?: (op: SocketOp, connectionId: string, data?: string) => Promise<void> | undefined;

  /** Makes the next `times` matching calls fail with `fault`. */
  fail(
    op: SocketOp,
    fault: SocketFault,
    match: (connectionId: string, data?: string) => boolean = () => true,
    times = 1,
  ): void {
    this.rules.push({ op, match, times, fault });
  }

  private injected(op: SocketOp, to: string, data?: string): SocketFault | undefined {
    const rule = this.rules.find((r) => r.op === op && r.times > 0 && r.match(to, data));
    if (!rule) return undefined;
    rule.times--;
    return rule.fault;
  }

  private async answer(op: SocketOp, to: string, data?: string): Promise<Delivery> {
    await this.delay?.(op, to, data);
    this.beforeCall?.(op, to, data);
    const fault = this.injected(op, to, data);
    if (fault) this.calls.push({ op, to, outcome: fault });
    if (fault === 'gone') return 'gone';
    if (fault) throw managementError(fault);
    if (!this.open.has(to)) {
      this.calls.push({ op, to, outcome: 'gone' });
      return 'gone';
    }
    this.calls.push({ op, to, outcome: 'sent' });
    if (op === 'post') {
      this.posts.push({ to, data: data! });
      this.active(to);
    } else if (op === 'close') {
      this.open.delete(to);
      this.closed.push(to);
    }
    return 'sent';
  }

  post(connectionId: string, data: string): Promise<Delivery> {
    return this.answer('post', connectionId, data);
  }

  close(connectionId: string): Promise<Delivery> {
    return this.answer('close', connectionId);
  }

  async isAlive(connectionId: string): Promise<boolean> {
    return (await this.answer('get', connectionId)) === 'sent';
  }

  /** When each socket last carried a frame (ms, on `clock`): set by `active` and by posts. */
  readonly activeAt = new Map<string, number>();
  /** The clock activity is stamped with: the world's handlers' clock. */
  clock: () => number = Date.now;

  /** The socket carried a frame now (the world's `send` marks its sender). */
  active(connectionId: string): void {
    this.activeAt.set(connectionId, this.clock());
  }

  async lastActiveAt(connectionId: string): Promise<number | 'gone'> {
    if ((await this.answer('get', connectionId)) === 'gone') return 'gone';
    return this.activeAt.get(connectionId) ?? 0;
  }

  /** What one socket received, in order. */
  received(connectionId: string): string[] {
    return this.posts.filter((post) => post.to === connectionId).map((post) => post.data);
  }
}

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
  sockets?: Sockets;
}

export interface World {
  handlers: Handlers;
  sockets: Sockets;
  deliveries: AsyncInvocations;
  /** The store the handlers use, on its own SDK client with a fault middleware. */
  store: SignalStore;
  faults: DbFaults;
  /** Error lines the handlers logged ("handler failed", …), with their error names. */
  errors: { message: string; error?: string }[];
  /** Moves the handlers' clock (grace periods, patience), not the store's. */
  advance(ms: number): void;
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
  const sockets = options.sockets ?? new Sockets();
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

/**
 * Test doubles for store-level handler tests: the management API as an in-memory set of open
 * sockets (the real @connections path is covered end to end through the local gateway), and a
 * delivery invoker that runs the deliver handler at once, without awaiting it, as an
 * asynchronous Lambda invocation would.
 */
import type { DeliveryInvoker, DeliveryJob } from '../../lambda/core/delivery-invoker.js';
import { createHandlers, type Handlers } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS, type Limits } from '../../lambda/core/limits.js';
import { createLogger, type Level } from '../../lambda/core/log.js';
import type { Delivery, Messenger } from '../../lambda/core/messenger.js';
import type { SignalStore } from '../../lambda/core/store.js';

/**
 * API Gateway's @connections as the core sees it: a socket can be written to from the moment
 * its $connect has returned until it closes; before and after, the answer is 410 (gone).
 */
export class FakeConnections implements Messenger {
  readonly open = new Set<string>();
  readonly posts: { to: string; data: string }[] = [];
  readonly closed: string[] = [];
  /** 410 answers, counted per connection. */
  readonly goneAnswers = new Map<string, number>();

  post(connectionId: string, data: string): Promise<Delivery> {
    if (!this.open.has(connectionId)) return Promise.resolve(this.gone(connectionId));
    this.posts.push({ to: connectionId, data });
    return Promise.resolve('sent');
  }

  close(connectionId: string): Promise<Delivery> {
    if (!this.open.has(connectionId)) return Promise.resolve(this.gone(connectionId));
    this.open.delete(connectionId);
    this.closed.push(connectionId);
    return Promise.resolve('sent');
  }

  isAlive(connectionId: string): Promise<boolean> {
    return Promise.resolve(this.open.has(connectionId));
  }

  /** Every open socket counts as active now. */
  lastActiveAt(connectionId: string): Promise<number | 'gone'> {
    if (this.open.has(connectionId)) return Promise.resolve(Date.now());
    this.gone(connectionId);
    return Promise.resolve('gone');
  }

  /** What one connection received, in order. */
  received(connectionId: string): string[] {
    return this.posts.filter((post) => post.to === connectionId).map((post) => post.data);
  }

  private gone(connectionId: string): Delivery {
    this.goneAnswers.set(connectionId, (this.goneAnswers.get(connectionId) ?? 0) + 1);
    return 'gone';
  }
}

/** Runs each deferred delivery at once, in the background; `settled()` waits for all of them. */
export class ImmediateDeliveryInvoker implements DeliveryInvoker {
  private readonly running = new Set<Promise<void>>();
  readonly jobs: DeliveryJob[] = [];
  handlers?: Handlers;

  deliverLater(job: DeliveryJob): Promise<void> {
    this.jobs.push(job);
    const run = Promise.resolve()
      .then(() => this.handlers!.deliver(job))
      .finally(() => this.running.delete(run));
    this.running.add(run);
    return Promise.resolve();
  }

  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}

export interface SignalWorld {
  handlers: Handlers;
  connections: FakeConnections;
  deliveryInvoker: ImmediateDeliveryInvoker;
  /** Moves the handlers' clock (pairing grace periods), not the store's. */
  advance(ms: number): void;
  /** Error lines logged by the handlers. */
  errors: string[];
  connect(connectionId: string, query: Record<string, string>): Promise<number>;
  send(connectionId: string, body: string): Promise<void>;
  disconnect(connectionId: string): Promise<void>;
  introduce(connectionId: string, peerId: string): Promise<void>;
  relay(connectionId: string, localId: string, remoteId: string, key: string): Promise<void>;
}

/** The real handlers over a real store, with fake sockets. */
export function signalWorld(store: SignalStore, limits: Partial<Limits> = {}): SignalWorld {
  const connections = new FakeConnections();
  const deliveryInvoker = new ImmediateDeliveryInvoker();
  let offset = 0;
  const errors: string[] = [];
  const log = createLogger('warn', (level: Level, message) => {
    if (level === 'error') errors.push(message);
  });
  const handlers = createHandlers(
    {
      store,
      messenger: connections,
      deliveryInvoker,
      limits: { ...DEFAULT_LIMITS, ...limits },
      now: () => Date.now() + offset,
    },
    { log },
  );
  deliveryInvoker.handlers = handlers;
  let requests = 0;
  const context = (routeKey: string, connectionId: string) => ({
    routeKey,
    connectionId,
    requestId: `r${++requests}`,
    requestTimeEpoch: Date.now() + offset,
  });

  const world: SignalWorld = {
    handlers,
    connections,
    deliveryInvoker,
    errors,
    advance: (ms) => {
      offset += ms;
    },
    async connect(connectionId, query) {
      const { statusCode } = await handlers.connect({
        requestContext: context('$connect', connectionId),
        queryStringParameters: query,
      });
      // Writable only once $connect has returned 200, as on API Gateway.
      if (statusCode === 200) connections.open.add(connectionId);
      return statusCode;
    },
    async send(connectionId, body) {
      await handlers.message({ requestContext: context('$default', connectionId), body });
    },
    async disconnect(connectionId) {
      connections.open.delete(connectionId);
      await handlers.disconnect({ requestContext: context('$disconnect', connectionId) });
    },
    async introduce(connectionId, peerId) {
      expectOk(await world.connect(connectionId, { type: 'introduction', localId: peerId }));
    },
    async relay(connectionId, localId, remoteId, key) {
      expectOk(await world.connect(connectionId, { type: 'connection', localId, remoteId, key }));
    },
  };
  return world;
}

function expectOk(statusCode: number) {
  if (statusCode !== 200) throw new Error(`$connect answered ${statusCode}`);
}

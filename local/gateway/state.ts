import type { WebSocket } from 'ws';
import type { Handlers } from '../../lambda/core/handlers.js';
import type { Logger } from '../../lambda/core/log.js';
import { newApiId, type ConnectionFacts } from '../events.js';
import { tokenBucket, type TokenBucket } from '../throttle.js';
import type { CloseCause } from './close-codes.js';
import type { GatewayOptions } from './options.js';

/** One WebSocket, from its handshake (`connecting`, inside `$connect`) to its close. */
export interface Connection {
  readonly facts: ConnectionFacts;
  state: 'connecting' | 'open' | 'closed';
  socket?: WebSocket;
  lastActiveAt: number;
  /** Why the gateway is closing it, once it is. */
  closing?: CloseCause;
  timers: NodeJS.Timeout[];
  closed: Promise<void>;
  markClosed: () => void;
}

/** Background work (handlers, invocations) that settled() and close() wait for. */
export interface Work {
  /** Runs `work` in the background, tracked; its errors are logged as `${what} failed`. */
  track(what: string, work: Promise<unknown>): void;
  /** Resolves once nothing tracked runs. */
  settled(): Promise<void>;
  /** How many tracked pieces of work still run. */
  readonly size: number;
}

/** What every part of one gateway shares. */
export interface GatewayContext {
  readonly stage: string;
  /** `/{stage}`: the only URL API Gateway itself upgrades. */
  readonly stagePath: string;
  readonly apiId: string;
  readonly deliverFunctionName: string;
  readonly idleTimeoutMs: number;
  readonly maxConnectionMs: number;
  readonly jitterMs: number;
  readonly dropDisconnects: boolean;
  /** One bucket for the stage: every socket's messages and every handshake draw from it. */
  readonly bucket: TokenBucket | undefined;
  readonly log: Logger;
  readonly handlers: Handlers;
  /** Every socket not yet closed, by connection id. */
  readonly connections: Map<string, Connection>;
  readonly work: Work;
  /** Set once close() starts: from then on every handshake is refused. */
  stopping: boolean;
}

/** The deliver function's name, as the Invoke API knows it. */
export const deliverFunctionName = (stage: string) => `cevitxe-signal-${stage}-deliver`;

const TEN_MINUTES = 10 * 60 * 1000;
const TWO_HOURS = 2 * 60 * 60 * 1000;

/** A fresh gateway's shared state: its options with their defaults, no socket, no work. */
export function createContext(
  options: GatewayOptions,
  stage: string,
  log: Logger,
  handlers: Handlers,
): GatewayContext {
  return {
    stage,
    stagePath: `/${stage}`,
    apiId: newApiId(),
    deliverFunctionName: deliverFunctionName(stage),
    idleTimeoutMs: options.idleTimeoutMs ?? TEN_MINUTES,
    maxConnectionMs: options.maxConnectionMs ?? TWO_HOURS,
    jitterMs: options.invocationJitterMs ?? 0,
    dropDisconnects: options.dropDisconnects ?? false,
    bucket: options.throttle && tokenBucket(options.throttle),
    log,
    handlers,
    connections: new Map(),
    work: createWork(log),
    stopping: false,
  };
}

function createWork(log: Logger): Work {
  const running = new Set<Promise<void>>();
  return {
    track(what, work) {
      const done: Promise<void> = work.then(
        () => undefined,
        (error: unknown) => log.error(`${what} failed`, { error }),
      );
      running.add(done);
      void done.finally(() => running.delete(done));
    },
    async settled() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    get size() {
      return running.size;
    },
  };
}

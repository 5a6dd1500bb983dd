/** What the core needs, passed in: the same core runs on AWS, in the local gateway and in tests. */
import type { AccessPolicy } from './access.js';
import type { DeliveryInvoker } from './delivery-invoker.js';
import type { Limits } from './limits.js';
import type { Logger } from './log.js';
import type { Messenger } from './messenger.js';
import type { Metrics } from './metrics.js';
import type { SignalStore } from './store.js';

export interface Services {
  readonly store: SignalStore;
  readonly messenger: Messenger;
  readonly deliveryInvoker: DeliveryInvoker;
  readonly limits: Limits;
  readonly now: () => number;
  /** Optional Origin allowlist and shared token checked at $connect. @default none */
  readonly access?: AccessPolicy;
}

/** One invocation: the services plus this invocation's logger and counters. */
export interface Context extends Services {
  readonly log: Logger;
  readonly metrics: Metrics;
  /**
   * Until when (ms) this invocation may keep retrying: a 410 from a socket that may still be
   * connecting, and a route's calls that failed past the SDK's retries. Route functions run at
   * most 10 s, so they wait at most ROUTE_WAIT_MS; the deliver function may wait the whole
   * pairing grace.
   */
  readonly waitUntil: number;
}

/**
 * How long a route function (10 s timeout) waits for a socket that answers 410 but may still be
 * inside its $connect; one that answers 410 for longer is taken for gone.
 */
export const ROUTE_WAIT_MS = 5_000;

/**
 * How long after pairing a 410 from the peer may only mean "its $connect has not returned yet"
 * (API Gateway allows a $connect integration 29 s). Past it, 410 means gone.
 */
export const PAIRING_GRACE_MS = 30_000;

/**
 * The deliver function's timeout: the pairing grace (410 retried while the peer's $connect may
 * run) plus time to post. A delivery claim older than this belongs to a deliverer that died.
 */
export const DELIVER_TIMEOUT_MS = PAIRING_GRACE_MS + 30_000;

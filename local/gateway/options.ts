import type { AccessPolicy } from '../../lambda/core/access.js';
import type { Handlers } from '../../lambda/core/handlers.js';
import type { Limits } from '../../lambda/core/limits.js';
import type { Level, Sink } from '../../lambda/core/log.js';
import type { ClientOverrides } from '../../lambda/runtime.js';
import { throttleProblem, type ThrottleOptions } from '../throttle.js';

export interface GatewayOptions {
  /** The port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** The address to listen on. `0.0.0.0` or `::` serve other machines too. @default '127.0.0.1' */
  readonly host?: string;
  /** The API Gateway stage name: WebSockets at `/{stage}`, management API at `/{stage}/@connections`. @default 'local' */
  readonly stage?: string;
  /** The DynamoDB table; created when missing. @default `cevitxe-signal-{stage}` */
  readonly tableName?: string;
  /** A DynamoDB API endpoint (DynamoDB Local). @default dynalite, in process and in memory */
  readonly dynamoDbEndpoint?: string;
  /** Close a socket after this long without a frame either way (pings do not count). @default 10 min */
  readonly idleTimeoutMs?: number;
  /** Close a socket this long after it connected, whatever it does. @default 2 h */
  readonly maxConnectionMs?: number;
  /** @default 'info' */
  readonly logLevel?: Level;
  /** Where log lines go. @default readable lines on stdout and stderr */
  readonly logSink?: Sink;
  /** The protocol's limits, over the defaults. @default DEFAULT_LIMITS */
  readonly limits?: Partial<Limits>;
  /**
   * Optional checks at $connect, as a stage may configure: the edge's secret (which the local
   * edge then adds to the handshakes it forwards, as CloudFront does), an Origin allowlist and a
   * shared token. @default none
   */
  readonly access?: AccessPolicy;
  /** Never deliver `$disconnect` (AWS delivers it best effort only): for tests. @default false */
  readonly dropDisconnects?: boolean;
  /** Wraps the handlers, e.g. to observe, delay or break them in tests. @default none */
  readonly wrapHandlers?: (handlers: Handlers) => Handlers;
  /** How long close() waits for handlers still running before it stops anyway. @default 10 s */
  readonly closeTimeoutMs?: number;
  /** Called with each AWS SDK client the handlers make, e.g. to count calls (npm run bench). @default none */
  readonly instrumentClient?: ClientOverrides['instrument'];
  /**
   * Delay each message invocation by a random 0 to this many ms: Lambda's scheduling spread,
   * which one event loop lacks, so that frames sent back to back may be handled out of order.
   * @default 0
   */
  readonly invocationJitterMs?: number;
  /**
   * The stage's throttle: a token bucket over messages and handshakes. A throttled message
   * never reaches the handler and its sender gets API Gateway's `Too Many Requests` frame; a
   * throttled handshake is refused with 429. @default none (unthrottled)
   */
  readonly throttle?: ThrottleOptions;
}

export interface Gateway {
  /** Where it listens, e.g. `http://127.0.0.1:8080`: the fish page, and the path form as ws://. */
  readonly url: string;
  readonly port: number;
  readonly stage: string;
  /** The management API's endpoint (`stage.callbackUrl` on AWS): `{url}/{stage}`. */
  readonly managementEndpoint: string;
  /** The deliver function's name, as the Invoke API knows it. */
  readonly deliverFunctionName: string;
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  /** A WebSocket URL on this gateway: `ws://…{path}`. @default path `/{stage}` */
  wsUrl(path?: string): string;
  /** Resolves once no handler runs: every $connect, message, $disconnect and invocation done. */
  settled(): Promise<void>;
  /** Closes every socket (1001), waits for the handlers, stops listening and DynamoDB. */
  close(): Promise<void>;
}

/** Why the options cannot start a gateway, or undefined when they can. */
export function optionsProblem(options: GatewayOptions): string | undefined {
  const jitter = options.invocationJitterMs;
  if (jitter !== undefined && (!Number.isFinite(jitter) || jitter < 0))
    return `invocationJitterMs must be a number of ms, 0 or more, not ${jitter}`;
  return options.throttle && throttleProblem(options.throttle);
}

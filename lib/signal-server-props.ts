// The props of a SignalServer: what a stage may choose, the defaults, and the checks that refuse
// bad values before anything is built.
import { LEVELS, type Level } from '../lambda/core/log.js';
import { RemovalPolicy, Token } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  DEFAULT_LIMITS,
  INTRODUCTION_BUDGET_SHARDS,
  MAX_FRAME_BYTES,
  type Limits,
} from '../lambda/core/limits.js';
import { STAGE_NAME } from './props.js';
import type { SignalCaps } from './signal-caps.js';

/** How much the Lambda functions log; they read it from `LOG_LEVEL`. */
export type LogLevel = Level;

/** Steady-state request rate and burst for every route of the stage. */
export interface SignalThrottle {
  /** Requests per second, steady state. Must be greater than 0. */
  readonly rateLimit: number;
  /** Requests that may arrive at once above the steady rate. A positive integer. */
  readonly burstLimit: number;
}

/** Properties of a {@link SignalServer}. */
export interface SignalServerProps {
  /**
   * The API Gateway stage name; it is the last path segment of the `wss://` URL.
   * Letters, digits, `-` and `_`, at most 128 characters.
   * @default 'dev'
   */
  readonly stageName?: string;

  /**
   * Default route throttling of the stage (every message a client sends counts).
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: SignalThrottle;

  /**
   * Protocol limits, merged over `DEFAULT_LIMITS` from lambda/core/limits.ts and passed to the
   * functions as JSON in `LIMITS`. Each must be a positive integer.
   * @default DEFAULT_LIMITS
   */
  readonly limits?: Partial<Limits>;

  /**
   * Memory of every function in MB, 128 to 10240.
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * How long the functions' log groups keep their events.
   * @default RetentionDays.ONE_WEEK
   */
  readonly logRetention?: RetentionDays;

  /**
   * What happens to the table and the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How much the functions log.
   * @default 'info'
   */
  readonly logLevel?: LogLevel;

  /**
   * Whether the table keeps point-in-time recovery backups (35 days).
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;

  /**
   * Origins allowed to open a connection, compared exactly with the handshake's `Origin` header
   * (`scheme://host[:port]`, no path). Passed to the connect function as `ALLOWED_ORIGINS`.
   * Browsers always send `Origin`; other clients may not, and are then refused.
   * @default [] - any origin, and none, may connect
   */
  readonly allowedOrigins?: readonly string[];

  /**
   * The name of an SSM String parameter (created by the operator) holding a shared token that
   * every handshake must carry as `token=…` in its query; the edge's path form carries it
   * through. The template holds only the name: the value is resolved by CloudFormation at each
   * deploy (an `AWS::SSM::Parameter::Value<String>` stack parameter) and reaches the connect
   * function as `CONNECT_TOKEN`. Rotate it by putting a new value and deploying again. It is
   * readable in the function's configuration, so treat it as a gate against casual use, not
   * as a per-user credential. The original cevitxe client sends no token.
   * @default - no token is needed
   */
  readonly connectTokenParameter?: string;

  /**
   * Whether the stage writes one JSON access log line per connect, message and disconnect to a
   * log group of its own (kept for `logRetention`, removed by `removalPolicy`): request and
   * connection ids, event, route, status, error, latency, source IP and user agent, never the
   * query string, headers or bodies. Handshakes refused and messages throttled by API Gateway
   * (429) show only here, since they never reach a function. API Gateway writes the log through
   * the account's CloudWatch Logs role: see `apiGatewayCloudWatchRole`. Turning it off is a
   * deliberate choice, so the construct then acknowledges cdk-nag's AwsSolutions-APIG1 itself.
   * @default true
   */
  readonly accessLogging?: boolean;

  /**
   * Whether to set API Gateway's account-wide CloudWatch Logs role (one setting per account and
   * region, `AWS::ApiGateway::Account`) to a role this construct creates. Access logging needs
   * that setting once per account and region, so exactly one stack per account and region
   * should turn this on; turn it off everywhere else, and where the setting is already made (by
   * a landing zone, say). The role is kept when the stack is deleted, because every API of the
   * account and region logs through whichever role the setting names.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;

  /**
   * Whether the table refuses to be deleted (DynamoDB deletion protection): a stack update or
   * deletion that would remove it fails until this is turned off.
   * @default false
   */
  readonly deletionProtection?: boolean;

  /**
   * The stage's hard caps: the `$connect` route throttle, reserved concurrency per function and
   * the table's on-demand maximums. See {@link SignalCaps} for each default and its reason.
   * @default SIGNAL_CAPS_DEFAULTS
   */
  readonly caps?: SignalCaps;
}

/** Default values of the optional {@link SignalServerProps}. */
export const SIGNAL_SERVER_DEFAULTS = {
  stageName: 'dev',
  throttle: { rateLimit: 100, burstLimit: 200 },
  memorySize: 256,
  logRetention: RetentionDays.ONE_WEEK,
  removalPolicy: RemovalPolicy.RETAIN,
  logLevel: 'info',
  pointInTimeRecovery: false,
  allowedOrigins: [],
  accessLogging: true,
  apiGatewayCloudWatchRole: true,
  deletionProtection: false,
} as const satisfies SignalServerSettings;

/** The props that always have a value once defaults are applied. */
export type SignalServerSettings = Required<
  Omit<SignalServerProps, 'limits' | 'connectTokenParameter' | 'caps'>
>;

const ORIGIN = /^https?:\/\/[^\s,/]+$/;
// SSM parameter names: a plain name, or a path of such names starting with "/".
const SSM_PARAMETER_NAME = /^(?:[A-Za-z0-9_.-]+|(?:\/[A-Za-z0-9_.-]+)+)$/;
const LOG_LEVELS: readonly string[] = LEVELS;

/** Every problem with the props, as sentences; empty when they are valid. Tokens are not checked. */
export function signalServerProblems(
  settings: SignalServerSettings,
  limits: Limits,
  connectTokenParameter: string | undefined,
): string[] {
  const problems: string[] = [];
  const known = (n: number): boolean => !Token.isUnresolved(n);
  const { stageName, throttle, memorySize, logLevel, allowedOrigins } = settings;

  if (!Token.isUnresolved(stageName) && !STAGE_NAME.test(stageName)) {
    problems.push(
      `stageName "${stageName}" must be 1-128 characters of letters, digits, "-" and "_"`,
    );
  }
  if (
    known(throttle.rateLimit) &&
    !(Number.isFinite(throttle.rateLimit) && throttle.rateLimit > 0)
  ) {
    problems.push(`throttle.rateLimit must be a number greater than 0, got ${throttle.rateLimit}`);
  }
  if (
    known(throttle.burstLimit) &&
    !(Number.isInteger(throttle.burstLimit) && throttle.burstLimit >= 1)
  ) {
    problems.push(
      `throttle.burstLimit must be an integer of at least 1, got ${throttle.burstLimit}`,
    );
  }
  if (
    known(memorySize) &&
    !(Number.isInteger(memorySize) && memorySize >= 128 && memorySize <= 10240)
  ) {
    problems.push(`memorySize must be an integer from 128 to 10240 MB, got ${memorySize}`);
  }
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${String(logLevel)}"`);
  }
  for (const origin of allowedOrigins) {
    if (!ORIGIN.test(origin)) {
      problems.push(
        `allowedOrigins entry "${origin}" must be an origin like https://app.example.com (scheme and host, no path, no comma)`,
      );
    }
  }

  if (
    connectTokenParameter !== undefined &&
    !Token.isUnresolved(connectTokenParameter) &&
    !(SSM_PARAMETER_NAME.test(connectTokenParameter) && connectTokenParameter.length <= 1011)
  ) {
    problems.push(
      `connectTokenParameter "${connectTokenParameter}" must be an SSM parameter name like /cevitxe/prod/connect-token (letters, digits, ".", "-", "_"; a path starts with "/")`,
    );
  }

  for (const [name, value] of Object.entries(limits)) {
    if (!(name in DEFAULT_LIMITS)) {
      problems.push(
        `limits.${name} is not a known limit (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`,
      );
    } else if (!(typeof value === 'number' && Number.isSafeInteger(value) && value > 0)) {
      problems.push(`limits.${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (Number.isSafeInteger(limits.maxHeldBytes) && limits.maxHeldBytes < MAX_FRAME_BYTES) {
    problems.push(
      `limits.maxHeldBytes (${limits.maxHeldBytes}) is below the ${MAX_FRAME_BYTES}-byte frame limit: a full-size frame could never be held`,
    );
  }
  const largestFanOut = INTRODUCTION_BUDGET_SHARDS * 2 * limits.maxFanOut;
  if (limits.introductionPostsPerMinute < largestFanOut) {
    problems.push(
      `limits.introductionPostsPerMinute (${limits.introductionPostsPerMinute}) is below ${largestFanOut} (${INTRODUCTION_BUDGET_SHARDS} shards × 2 × maxFanOut ${limits.maxFanOut}): a Join with the largest fan-out could never be introduced`,
    );
  }
  return problems;
}

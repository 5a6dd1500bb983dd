import { RemovalPolicy, type Environment } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Limits } from '../lambda/core/limits.js';
import type { EdgeWebAclStackProps } from '../lib/edge-web-acl.js';
import type { SignalBrakeOptions } from '../lib/signal-brake.js';
import type { SignalBudgetOptions } from '../lib/signal-budget.js';
import type { SignalMonitoringOptions } from '../lib/signal-monitoring.js';
import type { SignalServerProps } from '../lib/signal-server.js';
import type { SignalEdgeSettings, SignalStackProps } from '../lib/signal-stack.js';

/**
 * Everything that differs between deployments of the signal server. Every field is stated per
 * stage (none falls back to a construct default), so a stage reads completely on its own.
 *
 * Access checks at `$connect` are both off by default, so the original cevitxe client keeps
 * working: `allowedOrigins: []` lets any origin (and none) connect, and
 * `connectTokenParameter: undefined` asks for no token.
 */
export interface StageConfig extends Required<
  Omit<SignalServerProps, 'stageName' | 'limits' | 'connectTokenParameter'>
> {
  /** Protocol limits that differ from `DEFAULT_LIMITS`; `{}` keeps every default. */
  readonly limits: Partial<Limits>;

  /**
   * The name of an SSM String parameter holding the shared token every handshake must carry
   * as `token=…`; the operator creates it (`aws ssm put-parameter --type String`), the
   * template holds only the name. `undefined`: no token is asked for. See
   * {@link SignalServerProps.connectTokenParameter}.
   */
  readonly connectTokenParameter: string | undefined;

  /**
   * The edge front door (CloudFront in front of the stage, for the original client's path
   * form and the fish page): `{ enabled: true, requireEdgeSecret: true }` on the distribution's
   * own name, with `customDomain` for your own name and `webAclArn` for a WAF web ACL, or
   * `{ enabled: false }` for none. `requireEdgeSecret: false` lets clients dial the raw
   * execute-api host, skipping CloudFront and its WAF (docs/deploying.md).
   */
  readonly edge: SignalEdgeSettings;

  /**
   * The stage's own WAF web ACL stack, `CevitxeSignal-<stage>-waf` in us-east-1, with its rate
   * limit per viewer IP on handshakes; `undefined`: none (a web ACL costs $6 a month before its
   * first request). Deploy it, then put its `WebAclArn` output in `edge.webAclArn`.
   */
  readonly edgeWebAcl:
    Pick<EdgeWebAclStackProps, 'handshakesPerWindow' | 'windowSeconds'> | undefined;

  /**
   * The stage's dashboard and alarms: `{}` for the defaults, notifying no one; `alarmEmail`
   * subscribes an address to every alarm. See {@link SignalMonitoringOptions}.
   */
  readonly monitoring: SignalMonitoringOptions;

  /**
   * The brake on the stage's traffic, every field stated: the expected peak of messages a
   * second (in and out), the multiple of it that trips the brake, for how many one-minute
   * periods, and the throttle it sets. See {@link SignalBrakeOptions}.
   */
  readonly brake: Required<SignalBrakeOptions>;

  /**
   * A daily cost budget on the stage's cost-allocation tags (`project` and `stage`), e-mailing
   * `monitoring.alarmEmail`; `undefined` for none. It lags by hours: a backstop, not a brake.
   */
  readonly budget: SignalBudgetOptions | undefined;

  /**
   * The account and region the stage deploys to, pinned: `cdk deploy` then refuses other
   * credentials' account and region. Both as plain strings; synth stays offline (the stack
   * makes no lookups). `undefined`: wherever the deploying credentials point.
   */
  readonly env: Required<Pick<Environment, 'account' | 'region'>> | undefined;
}

/** The known stages. The key is the `-c stage=NAME` value and the API Gateway stage name. */
export const STAGES = {
  /** A developer's own stage: small, chatty logs, everything deleted with the stack. */
  dev: {
    throttle: { rateLimit: 50, burstLimit: 100 },
    // 200 introduction posts a second: a developer's peers meet at once, and a Join flood
    // costs at most about $0.72 an hour in posts (docs/deploying.md).
    limits: { introductionPostsPerMinute: 12_000 },
    memorySize: 256,
    logRetention: RetentionDays.ONE_WEEK,
    removalPolicy: RemovalPolicy.DESTROY,
    logLevel: 'debug',
    pointInTimeRecovery: false,
    allowedOrigins: [],
    connectTokenParameter: undefined,
    accessLogging: true,
    // The account's API Gateway logging role is prod's to set (one stack per account and
    // region sets it). Where dev has an account and region of its own, set this to true.
    apiGatewayCloudWatchRole: false,
    deletionProtection: false,
    edge: { enabled: true, requireEdgeSecret: true },
    edgeWebAcl: undefined,
    monitoring: {},
    caps: {
      // A tenth of the stage throttle: a developer's handful of clients reconnect at once.
      connectThrottle: { rateLimit: 5, burstLimit: 10 },
      // None reserved: a new account's concurrency quota can be 10, and AWS keeps 100
      // unreserved, so any reservation would fail to deploy there.
      reservedConcurrency: {},
      tableMaxReadUnits: 200,
      tableMaxWriteUnits: 100,
    },
    brake: {
      expectedPeakMessagesPerSecond: 10,
      multiple: 3,
      evaluationPeriods: 3,
      brakedThrottle: { rateLimit: 1, burstLimit: 1 },
    },
    // A developer's stage costs cents a day; an attack that gets through shows by the next day.
    budget: { dailyLimitUsd: 5 },
    env: undefined,
  },
  /** Production: more headroom, longer logs, data kept when the stack goes. */
  prod: {
    throttle: { rateLimit: 1000, burstLimit: 2000 },
    // 1,000 introduction posts a second: 1,000 peers reconnecting at once, each sharing its
    // keys with 10 others, are all introduced within 20 s; a Join flood costs at most about
    // $3.60 an hour in posts (docs/deploying.md).
    limits: { introductionPostsPerMinute: 60_000 },
    memorySize: 512,
    logRetention: RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
    logLevel: 'info',
    pointInTimeRecovery: true,
    // Any origin: the original cevitxe client is not only run from browsers.
    allowedOrigins: [],
    // No token: the original cevitxe client sends none. For clients that do, e.g.
    // connectTokenParameter: '/cevitxe/prod/connect-token',
    connectTokenParameter: undefined,
    accessLogging: true,
    // Sets the account's API Gateway logging role, for every stage of its account and region;
    // false where the account already has one (a landing zone's, say).
    apiGatewayCloudWatchRole: true,
    // The table cannot be deleted, by hand or by a stack change, until this is turned off.
    deletionProtection: true,
    // On the distribution's own name. With your own name, e.g.
    // edge: { enabled: true, customDomain: { domainName: 'signal.example.com',
    //   certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/…',
    //   hostedZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' } } },
    // Handshakes that skip CloudFront are refused. With a WAF web ACL (edgeWebAcl below, deployed
    // first), add webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/…'.
    edge: { enabled: true, requireEdgeSecret: true },
    // No WAF; for one, e.g. edgeWebAcl: { handshakesPerWindow: 300, windowSeconds: 300 },
    edgeWebAcl: undefined,
    // Alarms notify no one; to be e-mailed, e.g. monitoring: { alarmEmail: 'ops@example.com' },
    monitoring: {},
    caps: {
      // 1,000 peers with 3 sockets each all reconnect within a minute (sockets are cut at 2 h,
      // so sockets opened together reconnect together); the account allows 500 a second.
      connectThrottle: { rateLimit: 50, burstLimit: 100 },
      // 251 of the account's 1,000: the stage throttle's 1,000 messages/s need about 15
      // concurrent $default invocations. Raise the account's quota above 351 first. The brake
      // keeps 1 so that an attack that takes the account's concurrency cannot starve it.
      reservedConcurrency: { connect: 50, default: 100, disconnect: 50, deliver: 50, brake: 1 },
      // A partition's own limits (3,000 reads, 1,000 writes a second); a 32 KB held frame
      // writes 33 units, so writes bound a held-frame flood to about $2.25 an hour.
      tableMaxReadUnits: 3000,
      tableMaxWriteUnits: 1000,
    },
    brake: {
      // Size from your own traffic (CloudWatch: AWS/ApiGateway MessageCount of the stage).
      expectedPeakMessagesPerSecond: 300,
      multiple: 3,
      evaluationPeriods: 3,
      brakedThrottle: { rateLimit: 1, burstLimit: 1 },
    },
    // 1,000 peers 8 hours a day come to about $67 at the modelled $0.00832 a peer-hour.
    budget: { dailyLimitUsd: 100 },
    // Deployed wherever the credentials point; to pin, e.g.
    // env: { account: '123456789012', region: 'eu-west-1' },
    env: undefined,
  },
} as const satisfies Record<string, StageConfig>;

export type StageName = keyof typeof STAGES;

/**
 * The stage named by `value` (the `-c stage=NAME` context value); throws, listing the known
 * stages, for anything else.
 */
export function parseStage(value: unknown): StageName {
  if (typeof value === 'string' && Object.hasOwn(STAGES, value)) return value as StageName;
  throw new Error(
    `Unknown stage ${JSON.stringify(value)}. Known stages: ${Object.keys(STAGES).join(', ')} ` +
      '(pick one with -c stage=NAME).',
  );
}

/** The cost-allocation tags of a stage's stack: bin/app.ts applies them, the budget filters on them. */
export function stageTags(stage: StageName): Record<string, string> {
  return { project: 'cevitxe-signal', stage };
}

/** The CloudFormation stack name of a stage. */
export function stackNameOf(stage: StageName): string {
  return `CevitxeSignal-${stage}`;
}

/**
 * The props of a stage's {@link SignalStack}: its name, edge, monitoring, brake and budget, and the rest of its
 * config as SignalServer props.
 */
export function signalStackProps(stage: StageName): SignalStackProps & { stackName: string } {
  // The WAF web ACL is a stack of its own (webAclStackProps); the stage takes only its ARN.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { edge, edgeWebAcl, monitoring, brake, budget, env, ...server }: StageConfig =
    STAGES[stage];
  return {
    stackName: stackNameOf(stage),
    ...(env ? { env } : {}),
    description: `cevitxe signal server, stage ${stage} (API Gateway WebSocket, Lambda, DynamoDB, CloudFront)`,
    server: { stageName: stage, ...server },
    edge,
    monitoring,
    brake,
    ...(budget ? { budget: { ...budget, tags: stageTags(stage) } } : {}),
  };
}

/**
 * The props of a stage's WAF web ACL stack, pinned to us-east-1 (and the stage's account, if
 * pinned), or undefined when the stage has none. `config` is the stage's, or one to try.
 */
export function webAclStackProps(
  stage: StageName,
  config: StageConfig = STAGES[stage],
): (EdgeWebAclStackProps & { stackName: string }) | undefined {
  const { edgeWebAcl, env } = config;
  if (!edgeWebAcl) return undefined;
  return {
    ...edgeWebAcl,
    stackName: `${stackNameOf(stage)}-waf`,
    env: { ...(env ? { account: env.account } : {}), region: 'us-east-1' },
    description: `cevitxe signal server, stage ${stage}: WAF web ACL of the edge (CloudFront, us-east-1)`,
  };
}

import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Limits } from '../lambda/core/limits.js';
import type { SignalServerProps } from '../lib/signal-server.js';
import type { SignalStackProps } from '../lib/signal-stack.js';

/**
 * Everything that differs between deployments of the signal server. Every field is stated per
 * stage (none falls back to a construct default), so a stage reads completely on its own.
 */
export interface StageConfig extends Required<Omit<SignalServerProps, 'stageName' | 'limits'>> {
  /** Protocol limits that differ from `DEFAULT_LIMITS`; `{}` keeps every default. */
  readonly limits: Partial<Limits>;
}

/** The known stages. The key is the `-c stage=NAME` value and the API Gateway stage name. */
export const STAGES = {
  /** A developer's own stage: small, chatty logs, everything deleted with the stack. */
  dev: {
    throttle: { rateLimit: 50, burstLimit: 100 },
    limits: {},
    memorySize: 256,
    logRetention: RetentionDays.ONE_WEEK,
    removalPolicy: RemovalPolicy.DESTROY,
    logLevel: 'debug',
    pointInTimeRecovery: false,
    allowedOrigins: [],
  },
  /** Production: more headroom, longer logs, data kept when the stack goes. */
  prod: {
    throttle: { rateLimit: 1000, burstLimit: 2000 },
    limits: {},
    memorySize: 512,
    logRetention: RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
    logLevel: 'info',
    pointInTimeRecovery: true,
    // Any origin: the original cevitxe client is not only run from browsers.
    allowedOrigins: [],
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

/** The CloudFormation stack name of a stage. */
export function stackNameOf(stage: StageName): string {
  return `CevitxeSignal-${stage}`;
}

/** The props of a stage's {@link SignalStack}: its name, and its config as SignalServer props. */
export function signalStackProps(stage: StageName): SignalStackProps & { stackName: string } {
  const config: StageConfig = STAGES[stage];
  return {
    stackName: stackNameOf(stage),
    description: `cevitxe signal server, stage ${stage} (API Gateway WebSocket, Lambda, DynamoDB)`,
    server: { stageName: stage, ...config },
  };
}

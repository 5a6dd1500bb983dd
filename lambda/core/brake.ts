// The brake: what it changes when the stage's traffic alarm goes off, and how it is released.
// Pure logic over an interface, so the same code runs in the brake function and in unit tests.

/** The environment variable holding the brake's {@link BrakeConfig} as JSON. */
export const BRAKE_CONFIG_VARIABLE = 'BRAKE_CONFIG';

/** The brake function's name in a stage (fixed, so an operator can invoke it by name). */
export function brakeFunctionName(stageName: string): string {
  return `cevitxe-signal-${stageName}-brake`;
}

/** A throttle as API Gateway's route settings spell it. */
export interface BrakeThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** A function the brake stops, and the reserved concurrency a release gives back to it. */
export interface BrakeFunction {
  readonly functionName: string;
  /** What the template reserves; `null`: nothing is reserved, so a release removes the 0. */
  readonly reservedConcurrency: number | null;
}

/** Everything the brake needs, fixed at synth: the stage, its caps, and what it stops. */
export interface BrakeConfig {
  readonly apiId: string;
  readonly stageName: string;
  /** The stage's default route throttle as deployed: what a release restores. */
  readonly stageThrottle: BrakeThrottle;
  /** The `$connect` route throttle as deployed: what a release restores. */
  readonly connectThrottle: BrakeThrottle;
  /** The throttle the brake sets on every route: near zero. */
  readonly brakedThrottle: BrakeThrottle;
  /** `$default` and `$connect`: set to reserved concurrency 0 by the brake. */
  readonly functions: readonly BrakeFunction[];
  /** Where the brake reports what it did; `null`: it only logs. */
  readonly topicArn: string | null;
}

/** What the brake does to AWS; the AWS implementation lives in lambda/brake.ts. */
export interface BrakeControls {
  /** Sets the stage's default route throttle and the `$connect` route's own. */
  throttleStage(stageDefault: BrakeThrottle, connect: BrakeThrottle): Promise<void>;
  /** Reserves `count` concurrent executions for the function, or removes the reservation (null). */
  reserveConcurrency(functionName: string, count: number | null): Promise<void>;
  /** Publishes to the alarm topic. */
  notify(topicArn: string, subject: string, message: string): Promise<void>;
}

/** A request to the brake: a CloudWatch alarm's state change, or an operator's command. */
export type BrakeRequest =
  | { readonly kind: 'alarm'; readonly alarmName: string; readonly state: string }
  | { readonly kind: 'apply' }
  | { readonly kind: 'release' };

/** What the brake did, for the log and the caller of a release. */
export interface BrakeOutcome {
  readonly action: 'applied' | 'released' | 'ignored';
  readonly detail: string;
}

/**
 * The request in `event`: a CloudWatch alarm action's event (`alarmData.state.value`), or
 * `{ "action": "apply" | "release" }` from an operator. Throws on anything else, so a wrong
 * payload changes nothing.
 */
export function parseBrakeRequest(event: unknown): BrakeRequest {
  const value = (event ?? {}) as Record<string, unknown>;
  if (value.action === 'apply' || value.action === 'release') return { kind: value.action };
  const alarmData = value.alarmData as
    { alarmName?: unknown; state?: { value?: unknown } } | undefined;
  if (typeof alarmData?.alarmName === 'string' && typeof alarmData.state?.value === 'string') {
    return { kind: 'alarm', alarmName: alarmData.alarmName, state: alarmData.state.value };
  }
  throw new Error(
    'The brake takes a CloudWatch alarm event or {"action":"apply"} or {"action":"release"}',
  );
}

/** Reads and checks the brake's configuration; throws naming the first thing missing. */
export function parseBrakeConfig(json: string | undefined): BrakeConfig {
  if (!json) throw new Error(`${BRAKE_CONFIG_VARIABLE} is not set`);
  const config = JSON.parse(json) as BrakeConfig;
  const throttle = (name: string, t: BrakeThrottle | undefined) => {
    if (!(t && t.rateLimit >= 0 && Number.isInteger(t.burstLimit) && t.burstLimit >= 0))
      throw new Error(`${BRAKE_CONFIG_VARIABLE}: ${name} must be { rateLimit, burstLimit }`);
  };
  if (!config.apiId || !config.stageName)
    throw new Error(`${BRAKE_CONFIG_VARIABLE}: apiId and stageName are required`);
  throttle('stageThrottle', config.stageThrottle);
  throttle('connectThrottle', config.connectThrottle);
  throttle('brakedThrottle', config.brakedThrottle);
  if (!Array.isArray(config.functions) || config.functions.length === 0)
    throw new Error(`${BRAKE_CONFIG_VARIABLE}: functions must list the functions to stop`);
  return config;
}

/**
 * Carries out `request`: an alarm going to ALARM (or `apply`) throttles every route near zero and
 * stops the functions; `release` restores the deployed throttles and reservations. Every change
 * is attempted even when one fails, so a partial brake still stops what it can; the first
 * failure is thrown afterwards, once the topic has been told.
 */
export async function runBrake(
  request: BrakeRequest,
  config: BrakeConfig,
  controls: BrakeControls,
): Promise<BrakeOutcome> {
  if (request.kind === 'alarm' && request.state !== 'ALARM') {
    return { action: 'ignored', detail: `alarm ${request.alarmName} is ${request.state}` };
  }
  const applying = request.kind !== 'release';
  const changes: Array<[string, () => Promise<void>]> = [
    applying
      ? [
          `throttled every route of stage ${config.stageName} to ${describe(config.brakedThrottle)}`,
          () => controls.throttleStage(config.brakedThrottle, config.brakedThrottle),
        ]
      : [
          `restored stage ${config.stageName} to ${describe(config.stageThrottle)} and $connect to ${describe(config.connectThrottle)}`,
          () => controls.throttleStage(config.stageThrottle, config.connectThrottle),
        ],
    ...config.functions.map(
      ({ functionName, reservedConcurrency }): [string, () => Promise<void>] => {
        const count = applying ? 0 : reservedConcurrency;
        return [
          `${functionName}: reserved concurrency ${count ?? 'removed'}`,
          () => controls.reserveConcurrency(functionName, count),
        ];
      },
    ),
  ];
  const done: string[] = [];
  const failed: string[] = [];
  let firstError: Error | undefined;
  for (const [what, change] of changes) {
    try {
      await change();
      done.push(what);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      firstError ??= error instanceof Error ? error : new Error(message);
      failed.push(`${what}: FAILED (${message})`);
    }
  }
  const why =
    request.kind === 'alarm' ? `alarm ${request.alarmName}` : `operator (${request.kind})`;
  const detail = [...done, ...failed].join('; ');
  if (config.topicArn) {
    const verb = applying ? 'applied' : 'released';
    await controls.notify(
      config.topicArn,
      `cevitxe signal ${config.stageName}: brake ${verb}${failed.length ? ' (with failures)' : ''}`,
      `The brake was ${verb} by ${why}.\n\n${[...done, ...failed].join('\n')}\n\n` +
        (applying ? 'Release it as docs/deploying.md says ("Releasing the brake").' : ''),
    );
  }
  if (firstError) throw firstError;
  return { action: applying ? 'applied' : 'released', detail };
}

function describe(t: BrakeThrottle): string {
  return `${t.rateLimit} rps (burst ${t.burstLimit})`;
}

// The brake of one stage: an alarm on the stage's message count whose action is a small function
// that throttles the stage near zero and stops $default and $connect (lambda/brake.ts).
import { Arn, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Alarm,
  ComparisonOperator,
  Metric,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { LambdaAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  BRAKE_CONFIG_VARIABLE,
  brakeFunctionName,
  type BrakeConfig,
} from '../lambda/core/brake.js';
import { definedOnly, refuseInvalidProps } from './props.js';
import { SignalFunction } from './signal-function.js';
import type { SignalServer, SignalThrottle } from './signal-server.js';

/** When the brake trips, and what it leaves open. */
export interface SignalBrakeOptions {
  /**
   * The stage's expected peak of WebSocket messages per second, in and out together (API
   * Gateway's `MessageCount`). Size it from your own traffic: the brake trips at `multiple`
   * times this.
   * @default - half the stage throttle's rateLimit
   */
  readonly expectedPeakMessagesPerSecond?: number;

  /**
   * How far above the expected peak the message count must be, in each of `evaluationPeriods`
   * one-minute periods, for the brake to trip.
   * @default 3
   */
  readonly multiple?: number;

  /**
   * Consecutive one-minute periods above the threshold before the brake trips: 2 or 3 keeps a
   * burst from tripping it while an attack is stopped within about 5 minutes.
   * @default 3
   */
  readonly evaluationPeriods?: number;

  /**
   * The throttle the brake sets on every route: near zero, so the bill stops growing.
   * @default { rateLimit: 1, burstLimit: 1 }
   */
  readonly brakedThrottle?: SignalThrottle;
}

/** Properties of a {@link SignalBrake}. */
export interface SignalBrakeProps extends SignalBrakeOptions {
  /** The signal server whose stage the brake watches and stops. */
  readonly server: SignalServer;
  /**
   * Where the brake reports what it did.
   * @default - no topic; the brake only logs
   */
  readonly topic?: ITopic;
  /**
   * How long the brake function's log group keeps its events.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the brake function's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Prefix of the alarm's and the brake function's names.
   * @default `cevitxe-signal-${stageName}`
   */
  readonly namePrefix?: string;
}

const DEFAULTS = {
  multiple: 3,
  evaluationPeriods: 3,
  brakedThrottle: { rateLimit: 1, burstLimit: 1 },
};

/**
 * An alarm on the stage's one-minute `MessageCount` above `multiple` × the expected peak for
 * `evaluationPeriods` periods; its action invokes the brake function, whose role may change this
 * stage and these two functions only. Released with `npm run brake -- release -c stage=NAME`.
 */
export class SignalBrake extends Construct {
  /** The alarm that trips the brake. */
  public readonly alarm: Alarm;
  /** The brake function (`{"action":"release"}` releases it). */
  public readonly function: SignalFunction;
  /** The function's name, fixed so that an operator can invoke it by name. */
  public readonly functionName: string;
  /** The alarm's threshold: messages in one minute. */
  public readonly thresholdPerMinute: number;

  constructor(scope: Construct, id: string, props: SignalBrakeProps) {
    super(scope, id);
    const { server } = props;
    const options = { ...DEFAULTS, ...definedOnly(props) };
    const stageThrottle = stageThrottleOf(server);
    const peak = props.expectedPeakMessagesPerSecond ?? stageThrottle.rateLimit / 2;
    refuseInvalidProps('SignalBrake', this, problems(peak, options));
    const prefix = props.namePrefix ?? `cevitxe-signal-${server.stage.stageName}`;
    this.thresholdPerMinute = Math.round(peak * 60 * options.multiple);
    this.functionName = props.namePrefix
      ? `${prefix}-brake`
      : brakeFunctionName(server.stage.stageName);

    this.function = this.createFunction(props, stageThrottle, options.brakedThrottle);
    this.alarm = new Alarm(this, 'Alarm', {
      alarmName: `${prefix}-brake`,
      alarmDescription: `The stage carries over ${options.multiple}× its expected peak of ${peak} messages/s: the brake throttles it near zero and stops $default and $connect. Release it as docs/deploying.md says.`,
      metric: new Metric({
        namespace: 'AWS/ApiGateway',
        metricName: 'MessageCount',
        dimensionsMap: { ApiId: server.webSocketApi.apiId, Stage: server.stage.stageName },
        statistic: Stats.SUM,
        period: Duration.minutes(1),
      }),
      threshold: this.thresholdPerMinute,
      evaluationPeriods: options.evaluationPeriods,
      datapointsToAlarm: options.evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarm.addAlarmAction(new LambdaAction(this.function));
  }

  /** The function, its configuration, and a role scoped to this stage and these functions. */
  private createFunction(
    { server, topic, logRetention, logRemovalPolicy }: SignalBrakeProps,
    stageThrottle: SignalThrottle,
    brakedThrottle: SignalThrottle,
  ): SignalFunction {
    const stopped = [
      [server.defaultFunction, server.caps.reservedConcurrency.default],
      [server.connectFunction, server.caps.reservedConcurrency.connect],
    ] as const;
    const config: BrakeConfig = {
      apiId: server.webSocketApi.apiId,
      stageName: server.stage.stageName,
      stageThrottle,
      connectThrottle: server.caps.connectThrottle,
      brakedThrottle,
      functions: stopped.map(([fn, reserved]) => ({
        functionName: fn.functionName,
        reservedConcurrency: reserved ?? null,
      })),
      topicArn: topic?.topicArn ?? null,
    };
    const fn = new SignalFunction(this, 'Function', {
      entry: 'lambda/brake.ts',
      apiRoute: false,
      timeout: Duration.seconds(30),
      memorySize: 256,
      logRetention: logRetention ?? RetentionDays.THREE_MONTHS,
      logRemovalPolicy: logRemovalPolicy ?? RemovalPolicy.RETAIN,
      description: 'The brake: throttles the stage near zero and stops $default and $connect',
      environment: { [BRAKE_CONFIG_VARIABLE]: Stack.of(this).toJsonString(config) },
    });
    const resource = fn.node.defaultChild as CfnFunction;
    resource.functionName = this.functionName;
    resource.reservedConcurrentExecutions = server.caps.reservedConcurrency.brake;

    const stageArn = Arn.format(
      {
        service: 'apigateway',
        account: '',
        resource: `/apis/${server.webSocketApi.apiId}/stages/${server.stage.stageName}`,
      },
      Stack.of(this),
    );
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['apigateway:PATCH'], resources: [stageArn] }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:PutFunctionConcurrency', 'lambda:DeleteFunctionConcurrency'],
        resources: stopped.map(([stoppedFn]) => stoppedFn.functionArn),
      }),
    );
    topic?.grantPublish(fn);
    return fn;
  }
}

function problems(peak: number, options: typeof DEFAULTS): string[] {
  const found: string[] = [];
  const check = (name: string, value: number, ok: boolean) => {
    if (!Token.isUnresolved(value) && !ok) found.push(`${name} is out of range, got ${value}`);
  };
  check('expectedPeakMessagesPerSecond (must be > 0)', peak, peak > 0);
  check('multiple (must be > 1)', options.multiple, options.multiple > 1);
  check(
    'evaluationPeriods (an integer from 1 to 5)',
    options.evaluationPeriods,
    Number.isInteger(options.evaluationPeriods) &&
      options.evaluationPeriods >= 1 &&
      options.evaluationPeriods <= 5,
  );
  const { rateLimit, burstLimit } = options.brakedThrottle;
  check('brakedThrottle.rateLimit (must be >= 0)', rateLimit, rateLimit >= 0);
  check(
    'brakedThrottle.burstLimit (an integer >= 0)',
    burstLimit,
    Number.isInteger(burstLimit) && burstLimit >= 0,
  );
  return found;
}

/** The stage's default route throttle as its template sets it: what a release restores. */
function stageThrottleOf(server: SignalServer): SignalThrottle {
  const settings = (server.stage.node.defaultChild as CfnStage).defaultRouteSettings as
    CfnStage.RouteSettingsProperty | undefined;
  const rateLimit = settings?.throttlingRateLimit;
  const burstLimit = settings?.throttlingBurstLimit;
  if (rateLimit === undefined || burstLimit === undefined)
    throw new Error(`SignalBrake: the stage ${server.stage.node.path} has no default throttle`);
  return { rateLimit, burstLimit };
}

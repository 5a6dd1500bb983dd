import { Aws, Duration, Token } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  Stats,
  TreatMissingData,
  Unit,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { FilterPattern, MetricFilter, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { NAMESPACE } from '../lambda/core/metrics.js';
import { definedOnly, refuseInvalidProps } from './props.js';
import { createSignalDashboard } from './signal-dashboard.js';
import { EMF_STAGE_DIMENSION, SignalMetrics, THROTTLED_REQUESTS_METRIC } from './signal-metrics.js';
import type { SignalServer } from './signal-server.js';

/**
 * When an alarm goes off: each alarm fires when its metric's sum over one `period` reaches its
 * threshold (`>=`) in `evaluationPeriods` consecutive periods. Every count must be greater than 0.
 */
export interface SignalAlarmThresholds {
  /**
   * Lambda `Errors` of one function (invocations that threw or timed out). The handlers answer
   * expected conditions (bad input, 410 Gone, refused connections) themselves, so any error is
   * unexpected.
   * @default 1
   */
  readonly functionErrors?: number;

  /**
   * Lambda `Throttles` of one function. A throttled route function loses the connection or the
   * message it was invoked for.
   * @default 1
   */
  readonly functionThrottles?: number;

  /**
   * API Gateway `ExecutionError`: API Gateway failed to call the integration at all.
   * @default 1
   */
  readonly executionErrors?: number;

  /**
   * Requests API Gateway throttled (`429 Too Many Requests`: over the stage's rate or burst
   * limit), counted from the stage's access log by a metric filter, since WebSocket APIs publish
   * no throttle metric. Without access logging there is no such alarm.
   * @default 10
   */
  readonly throttledRequests?: number;

  /**
   * Messages in the deliver function's failure queue: deliveries that failed every attempt.
   * @default 1
   */
  readonly failedDeliveries?: number;

  /**
   * The functions' own `Errors` count (EMF, namespace `CevitxeSignal`): invocations whose
   * signalling logic failed, across all functions of the stage.
   * @default 1
   */
  readonly handlerErrors?: number;

  /**
   * The period every alarm sums its metric over. A whole number of minutes.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;

  /**
   * How many consecutive periods must breach before an alarm goes off. A positive integer.
   * @default 1
   */
  readonly evaluationPeriods?: number;
}

/** Properties of a {@link SignalMonitoring}. */
export interface SignalMonitoringProps {
  /** The signal server to watch. */
  readonly server: SignalServer;

  /**
   * An e-mail address to notify: creates an SNS topic with an e-mail subscription (the address
   * has to confirm it once) and sends every alarm and its recovery there. Not with `alarmTopic`.
   * @default - no e-mail
   */
  readonly alarmEmail?: string;

  /**
   * An existing SNS topic to send every alarm and its recovery to. Not with `alarmEmail`.
   * @default - no topic, unless `alarmEmail` is set
   */
  readonly alarmTopic?: ITopic;

  /**
   * When the alarms go off; given fields override the defaults one by one.
   * @default SIGNAL_ALARM_DEFAULTS
   */
  readonly thresholds?: SignalAlarmThresholds;

  /**
   * Prefix of the alarm names and the dashboard name. Letters, digits, `-` and `_`, at most 200
   * characters. Alarm names are per region; the dashboard name, global to the account, also gets
   * the region appended.
   * @default `cevitxe-signal-${stageName}`
   */
  readonly namePrefix?: string;
}

/** The SignalMonitoring options a stage chooses: everything but the server it watches. */
export type SignalMonitoringOptions = Omit<SignalMonitoringProps, 'server'>;

/** Default values of {@link SignalAlarmThresholds}. */
export const SIGNAL_ALARM_DEFAULTS = {
  functionErrors: 1,
  functionThrottles: 1,
  executionErrors: 1,
  throttledRequests: 10,
  failedDeliveries: 1,
  handlerErrors: 1,
  period: Duration.minutes(5),
  evaluationPeriods: 1,
} as const satisfies Required<SignalAlarmThresholds>;

const NAME_PREFIX = /^[A-Za-z0-9_-]{1,200}$/;
/** An address with one `@`, no spaces, and a dot in the domain; SNS checks the rest. */
const EMAIL = /^[^\s@,;]+@[^\s@.,;]+(\.[^\s@.,;]+)+$/;

type Thresholds = Required<SignalAlarmThresholds>;

/**
 * Monitoring for one stage of a {@link SignalServer}: a CloudWatch dashboard (the functions'
 * signalling counters, Lambda, API Gateway and DynamoDB metrics, alarm states and recent error
 * logs) and alarms on failures: Lambda errors and throttles, API Gateway execution errors,
 * requests API Gateway throttled, deliveries that failed every attempt, and the functions' own
 * error counter, each notifying an SNS topic when there is one. Handshakes `$connect` refuses on
 * purpose (400/401/403, counted in API Gateway's `IntegrationError`) alarm no one.
 */
export class SignalMonitoring extends Construct {
  /** The stage's dashboard. */
  public readonly dashboard: Dashboard;
  /** Every alarm, in a stable order: per function, then API Gateway, then the EMF counter. */
  public readonly alarms: readonly Alarm[];
  /** Where the alarms notify: `alarmTopic`, the topic made for `alarmEmail`, or none. */
  public readonly topic?: ITopic;

  private readonly thresholds: Thresholds;
  private readonly namePrefix: string;

  constructor(scope: Construct, id: string, props: SignalMonitoringProps) {
    super(scope, id);
    const { server } = props;
    const stageName = server.stage.stageName;
    this.thresholds = { ...SIGNAL_ALARM_DEFAULTS, ...definedOnly(props.thresholds ?? {}) };
    this.namePrefix = props.namePrefix ?? `cevitxe-signal-${stageName}`;
    refuseInvalidProps('SignalMonitoring', this, validate(props, this.thresholds, this.namePrefix));

    this.topic = props.alarmTopic ?? this.createEmailTopic(stageName, props.alarmEmail);
    const metrics = new SignalMetrics(server, this.thresholds.period);
    this.alarms = this.createAlarms(server, metrics);
    this.dashboard = createSignalDashboard(this, {
      dashboardName: `${this.namePrefix}-${Aws.REGION}`,
      server,
      metrics,
      alarms: this.alarms,
    });
  }

  /** A topic that e-mails `alarmEmail`, when one is given. */
  private createEmailTopic(stageName: string, alarmEmail: string | undefined): ITopic | undefined {
    if (alarmEmail === undefined) return undefined;
    const topic = new Topic(this, 'AlarmTopic', {
      displayName: `cevitxe signal ${stageName} alarms`,
      enforceSSL: true,
    });
    topic.addSubscription(new EmailSubscription(alarmEmail));
    return topic;
  }

  /**
   * Every alarm: each function's errors and throttles, then API Gateway's execution errors and
   * throttled requests, failed deliveries and the functions' own error counter.
   */
  private createAlarms(server: SignalServer, metrics: SignalMetrics): Alarm[] {
    const { period } = metrics;
    const alarms: Alarm[] = [];
    for (const [name, fn] of metrics.functions) {
      alarms.push(
        this.alarm(
          `${name}-errors`,
          fn.metricErrors({ statistic: Stats.SUM, period }),
          this.thresholds.functionErrors,
          `The ${name} function threw or timed out. Its log group has the error lines (level "error").`,
        ),
        this.alarm(
          `${name}-throttles`,
          fn.metricThrottles({ statistic: Stats.SUM, period }),
          this.thresholds.functionThrottles,
          `The ${name} function was throttled: the account's (or its reserved) concurrency is exhausted, so connections or messages were lost.`,
        ),
      );
    }
    alarms.push(
      this.alarm(
        'api-execution-errors',
        metrics.api('ExecutionError'),
        this.thresholds.executionErrors,
        'API Gateway failed to call a route function (ExecutionError).',
      ),
    );
    // IntegrationError is no alarm: it counts the handshakes $connect refuses on purpose too.
    // Route functions that fail show in their Errors alarms and the EMF Errors alarm.
    if (server.accessLogGroup && metrics.throttledRequests) {
      this.countThrottledRequests(server.accessLogGroup);
      alarms.push(
        this.alarm(
          'api-throttled-requests',
          metrics.throttledRequests,
          this.thresholds.throttledRequests,
          "API Gateway throttled requests (429 Too Many Requests in the stage's access log): clients exceed the stage's rate or burst limit.",
        ),
      );
    }
    alarms.push(
      this.alarm(
        'deliver-failures',
        server.deliverFailureQueue.metricApproximateNumberOfMessagesVisible({
          statistic: Stats.MAXIMUM,
          period,
        }),
        this.thresholds.failedDeliveries,
        `Deliveries of held frames failed every attempt; the failure queue ${server.deliverFailureQueue.node.path} holds each request and its error.`,
      ),
      this.alarm(
        'handler-errors',
        metrics.emf('Errors'),
        this.thresholds.handlerErrors,
        `Signalling handlers failed (EMF ${NAMESPACE}/Errors, ${EMF_STAGE_DIMENSION}=${server.stage.stageName}).`,
      ),
    );
    return alarms;
  }

  /**
   * Counts the access log's lines with status 429 as {@link THROTTLED_REQUESTS_METRIC}, since
   * WebSocket APIs publish no throttle metric.
   */
  private countThrottledRequests(accessLogGroup: ILogGroup): void {
    new MetricFilter(this, 'ThrottledRequestsFilter', {
      logGroup: accessLogGroup,
      filterPattern: FilterPattern.stringValue('$.status', '=', '429'),
      metricNamespace: NAMESPACE,
      metricName: THROTTLED_REQUESTS_METRIC,
      metricValue: '1',
      dimensions: { [EMF_STAGE_DIMENSION]: '$.stage' },
      unit: Unit.COUNT,
    });
  }

  /** An alarm on `metric` reaching `threshold`, notifying the topic when it goes off and recovers. */
  private alarm(name: string, metric: IMetric, threshold: number, description: string): Alarm {
    const alarm = new Alarm(this, `Alarm-${name}`, {
      alarmName: `${this.namePrefix}-${name}`,
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: this.thresholds.evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (this.topic) {
      const action = new SnsAction(this.topic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    return alarm;
  }
}

/** Every problem with the props, as sentences; empty when they are valid. Tokens are not checked. */
function validate(
  props: SignalMonitoringProps,
  thresholds: Thresholds,
  namePrefix: string,
): string[] {
  const problems: string[] = [];
  const { alarmEmail, alarmTopic } = props;

  if (alarmEmail !== undefined && alarmTopic !== undefined) {
    problems.push('alarmEmail and alarmTopic cannot both be set: pick one place to notify');
  }
  if (alarmEmail !== undefined && !Token.isUnresolved(alarmEmail) && !EMAIL.test(alarmEmail)) {
    problems.push(`alarmEmail "${alarmEmail}" is not an e-mail address like ops@example.com`);
  }
  if (!Token.isUnresolved(namePrefix) && !NAME_PREFIX.test(namePrefix)) {
    problems.push(
      `namePrefix "${namePrefix}" must be 1-200 characters of letters, digits, "-" and "_"`,
    );
  }

  const { period, evaluationPeriods, ...counts } = thresholds;
  for (const [name, value] of Object.entries(counts)) {
    if (Token.isUnresolved(value)) continue;
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      problems.push(`thresholds.${name} must be a number greater than 0, got ${String(value)}`);
    }
  }
  if (
    !Token.isUnresolved(evaluationPeriods) &&
    !(Number.isInteger(evaluationPeriods) && evaluationPeriods >= 1)
  ) {
    problems.push(
      `thresholds.evaluationPeriods must be an integer of at least 1, got ${evaluationPeriods}`,
    );
  }
  if (!period.isUnresolved()) {
    const seconds = period.toSeconds({ integral: false });
    if (!(seconds >= 60 && seconds % 60 === 0)) {
      problems.push(`thresholds.period must be a whole number of minutes, got ${seconds} s`);
    }
  }
  return problems;
}

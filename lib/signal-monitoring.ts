import { Aws, Duration, Token } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  LogQueryWidget,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
  Unit,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { NAMESPACE, type MetricName } from '../lambda/core/metrics.js';
import type { SignalFunction } from './signal-function.js';
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

/** The EMF counters the functions log (lambda/core/metrics.ts), with their dashboard labels. */
export const SIGNAL_METRIC_LABELS: Readonly<Record<MetricName, string>> = {
  Connections: 'Connections registered',
  Introductions: 'Introductions sent',
  PairsMade: 'Pairs made',
  FramesRelayed: 'Frames relayed',
  FramesHeld: 'Frames held',
  FramesDelivered: 'Held frames delivered',
  Gone: '410 Gone',
  Errors: 'Handler errors',
};

/** The dimension the functions put on every EMF counter (lambda/core/handlers.ts). */
const EMF_STAGE_DIMENSION = 'stage';

/**
 * The metric (namespace {@link NAMESPACE}, dimension `stage`) counting access log lines with
 * status 429; the stage's name comes from the line's own `stage` field.
 */
export const THROTTLED_REQUESTS_METRIC = 'ThrottledRequests';
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
    const problems = validate(props, this.thresholds, this.namePrefix);
    if (problems.length > 0) {
      throw new Error(
        `Invalid SignalMonitoring props (${this.node.path}):\n- ${problems.join('\n- ')}`,
      );
    }

    if (props.alarmTopic) {
      this.topic = props.alarmTopic;
    } else if (props.alarmEmail !== undefined) {
      const topic = new Topic(this, 'AlarmTopic', {
        displayName: `cevitxe signal ${stageName} alarms`,
        enforceSSL: true,
      });
      topic.addSubscription(new EmailSubscription(props.alarmEmail));
      this.topic = topic;
    }

    const { period } = this.thresholds;
    const functions: ReadonlyArray<readonly [string, SignalFunction]> = [
      ['connect', server.connectFunction],
      ['default', server.defaultFunction],
      ['disconnect', server.disconnectFunction],
      ['deliver', server.deliverFunction],
    ];
    // Alarms take the plain metrics; labels would turn them into metric-math alarms.
    const api = (metricName: string, statistic: string = Stats.SUM) =>
      server.stage.metric(metricName, { statistic, period });
    const emf = (metricName: MetricName) =>
      new Metric({
        namespace: NAMESPACE,
        metricName,
        dimensionsMap: { [EMF_STAGE_DIMENSION]: stageName },
        statistic: Stats.SUM,
        period,
      });
    const counter = (metricName: MetricName) =>
      emf(metricName).with({ label: SIGNAL_METRIC_LABELS[metricName] });

    const alarms: Alarm[] = [];
    for (const [name, fn] of functions) {
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
        api('ExecutionError'),
        this.thresholds.executionErrors,
        'API Gateway failed to call a route function (ExecutionError).',
      ),
    );
    // IntegrationError is no alarm: it counts the handshakes $connect refuses on purpose too.
    // Route functions that fail show in their Errors alarms and the EMF Errors alarm.
    let throttled: Metric | undefined;
    if (server.accessLogGroup) {
      new MetricFilter(this, 'ThrottledRequestsFilter', {
        logGroup: server.accessLogGroup,
        filterPattern: FilterPattern.stringValue('$.status', '=', '429'),
        metricNamespace: NAMESPACE,
        metricName: THROTTLED_REQUESTS_METRIC,
        metricValue: '1',
        dimensions: { [EMF_STAGE_DIMENSION]: '$.stage' },
        unit: Unit.COUNT,
      });
      throttled = new Metric({
        namespace: NAMESPACE,
        metricName: THROTTLED_REQUESTS_METRIC,
        dimensionsMap: { [EMF_STAGE_DIMENSION]: stageName },
        statistic: Stats.SUM,
        period,
      });
      alarms.push(
        this.alarm(
          'api-throttled-requests',
          throttled,
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
        emf('Errors'),
        this.thresholds.handlerErrors,
        `Signalling handlers failed (EMF ${NAMESPACE}/Errors, ${EMF_STAGE_DIMENSION}=${stageName}).`,
      ),
    );
    this.alarms = alarms;

    const perFunction = (title: string, metricOf: (fn: SignalFunction) => Metric) =>
      new GraphWidget({
        title,
        width: 6,
        left: functions.map(([name, fn]) => metricOf(fn).with({ label: name, period })),
      });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${this.namePrefix}-${Aws.REGION}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        width: 24,
        height: 2,
        markdown: [
          `# cevitxe signal: stage ${stageName}`,
          `Managed by CloudFormation (lib/signal-monitoring.ts): changes made here are overwritten. Signalling counters are EMF metrics in namespace \`${NAMESPACE}\`, dimension \`${EMF_STAGE_DIMENSION}=${stageName}\`.`,
        ].join('\n\n'),
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Connections, introductions and pairs',
        width: 8,
        left: [counter('Connections'), counter('Introductions'), counter('PairsMade')],
      }),
      new GraphWidget({
        title: 'Frames relayed, held and delivered',
        width: 8,
        left: [counter('FramesRelayed'), counter('FramesHeld'), counter('FramesDelivered')],
      }),
      new GraphWidget({
        title: '410 Gone and handler errors',
        width: 8,
        left: [counter('Gone'), counter('Errors')],
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'API Gateway: connects and messages',
        width: 8,
        left: [api('ConnectCount'), api('MessageCount')],
      }),
      new GraphWidget({
        title: 'API Gateway: errors (IntegrationError includes refused handshakes)',
        width: 8,
        left: [
          api('ClientError'),
          api('IntegrationError'),
          api('ExecutionError'),
          ...(throttled ? [throttled.with({ label: 'Throttled (429)' })] : []),
        ],
      }),
      new GraphWidget({
        title: 'API Gateway: integration latency (ms)',
        width: 8,
        left: [
          api('IntegrationLatency', Stats.AVERAGE).with({ label: 'average' }),
          api('IntegrationLatency', Stats.percentile(99)).with({ label: 'p99' }),
        ],
      }),
    );
    this.dashboard.addWidgets(
      perFunction('Lambda invocations', (fn) => fn.metricInvocations({ statistic: Stats.SUM })),
      perFunction('Lambda errors', (fn) => fn.metricErrors({ statistic: Stats.SUM })),
      perFunction('Lambda throttles', (fn) => fn.metricThrottles({ statistic: Stats.SUM })),
      perFunction('Lambda duration p99 (ms)', (fn) =>
        fn.metricDuration({ statistic: Stats.percentile(99) }),
      ),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'DynamoDB: consumed capacity units',
        width: 8,
        left: [
          server.table.metricConsumedReadCapacityUnits({ period, label: 'read' }),
          server.table.metricConsumedWriteCapacityUnits({ period, label: 'write' }),
        ],
      }),
      new GraphWidget({
        title: 'DynamoDB: throttled requests',
        width: 8,
        left: [server.table.metricThrottledRequestsForOperations({ period })],
      }),
      new AlarmStatusWidget({ title: 'Alarms', width: 8, height: 6, alarms }),
    );
    this.dashboard.addWidgets(
      new LogQueryWidget({
        title: 'Recent warnings and errors',
        width: 24,
        height: 8,
        logGroupNames: functions.map(([, fn]) => fn.logGroup.logGroupName),
        queryLines: [
          'fields @timestamp, level, route, message, error.message, connectionId, requestId',
          'filter level = "error" or level = "warn"',
          'sort @timestamp desc',
          'limit 100',
        ],
      }),
    );
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

/** Drops keys whose value is `undefined`, so they do not override defaults when spread. */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
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

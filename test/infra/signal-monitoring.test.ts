import { CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import type { Services } from '../../lambda/core/context.js';
import { createHandlers } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { silentLogger } from '../../lambda/core/log.js';
import { NAMESPACE, type MetricName } from '../../lambda/core/metrics.js';
import { signalStackProps, STAGES, type StageName } from '../../bin/config.js';
import { SignalStack } from '../../lib/signal-stack.js';
import { SIGNAL_METRIC_LABELS, THROTTLED_REQUESTS_METRIC } from '../../lib/signal-metrics.js';
import {
  SIGNAL_ALARM_DEFAULTS,
  SignalMonitoring,
  type SignalMonitoringOptions,
} from '../../lib/signal-monitoring.js';
import { SignalServer } from '../../lib/signal-server.js';
import { appWithoutBundling, functionsOf, logicalIdOf, stageStack } from '../support/stacks.js';

/** A stack holding a SignalServer for `stageName` and a SignalMonitoring of it. */
function monitored(options: SignalMonitoringOptions = {}, stageName = 'dev') {
  const stack = new Stack(appWithoutBundling(), 'Monitored');
  const server = new SignalServer(stack, 'SignalServer', { stageName });
  const monitoring = new SignalMonitoring(stack, 'Monitoring', { server, ...options });
  return { stack, server, monitoring, template: Template.fromStack(stack) };
}

/** Constructing a SignalMonitoring with these options; for the validation tests. */
function build(options: SignalMonitoringOptions): () => void {
  return () => monitored(options);
}

interface AlarmJson {
  readonly Properties: Record<string, unknown> & { AlarmName: string };
}

/** The monitoring's alarms: every alarm but the brake's (signal-brake.test.ts has that one). */
function alarmsOf(template: Template): AlarmJson[] {
  return (Object.values(template.findResources('AWS::CloudWatch::Alarm')) as AlarmJson[]).filter(
    (alarm) => !String(alarm.Properties.AlarmName).endsWith('-brake'),
  );
}

function alarmNamed(template: Template, name: string): Record<string, unknown> {
  const matches = alarmsOf(template).filter((alarm) => alarm.Properties.AlarmName === name);
  expect(matches, `alarms named ${name}`).toHaveLength(1);
  return matches[0]!.Properties;
}

// The dashboard body is a Fn::Join of JSON text around tokens. Tokens only occur inside JSON
// strings, so each is replaced by a quote-free placeholder and the result parsed as JSON.
const ref = (logicalId: string): string => `{Ref:${logicalId}}`;
const arnOf = (logicalId: string): string => `{GetAtt:${logicalId}.Arn}`;

function placeholderOf(token: unknown): string {
  const intrinsic = token as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  if (intrinsic.Ref !== undefined) return ref(intrinsic.Ref);
  if (intrinsic['Fn::GetAtt']) return `{GetAtt:${intrinsic['Fn::GetAtt'].join('.')}}`;
  throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(token)}`);
}

interface WidgetJson {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly metrics?: unknown[][];
    readonly alarms?: string[];
    readonly query?: string;
    readonly markdown?: string;
  };
}

interface DashboardJson {
  readonly name: unknown;
  readonly widgets: WidgetJson[];
}

function dashboardOf(template: Template): DashboardJson {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const props = (dashboards[0] as { Properties: Record<string, unknown> }).Properties;
  const body = props.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1]
          .map((part) => (typeof part === 'string' ? part : placeholderOf(part)))
          .join('');
  const parsed = JSON.parse(text) as { widgets: WidgetJson[] };
  return { name: props.DashboardName, widgets: parsed.widgets };
}

/** One graphed metric: namespace, name, dimensions and rendering options. */
interface GraphedMetric {
  readonly widget: string;
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
  readonly options: Record<string, unknown>;
}

function graphedMetricsOf(dashboard: DashboardJson): GraphedMetric[] {
  return dashboard.widgets.flatMap((widget) =>
    (widget.properties.metrics ?? []).flatMap((row): GraphedMetric[] => {
      const strings = row.filter((cell): cell is string => typeof cell === 'string');
      const last = row.at(-1);
      const options =
        typeof last === 'object' && last !== null ? (last as Record<string, unknown>) : {};
      if (strings.length < 2) return []; // a math expression row
      const [namespace, name, ...pairs] = strings;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i]!] = pairs[i + 1]!;
      return [
        {
          widget: widget.properties.title ?? '',
          namespace: namespace!,
          name: name!,
          dimensions,
          options,
        },
      ];
    }),
  );
}

function findGraphed(
  metrics: GraphedMetric[],
  namespace: string,
  name: string,
  dimensions: Record<string, string>,
): GraphedMetric[] {
  return metrics.filter(
    (m) =>
      m.namespace === namespace &&
      m.name === name &&
      JSON.stringify(Object.entries(m.dimensions).sort()) ===
        JSON.stringify(Object.entries(dimensions).sort()),
  );
}

const METRIC_NAMES = Object.keys(SIGNAL_METRIC_LABELS) as MetricName[];

describe('SignalMonitoring dashboard', () => {
  const { server, monitoring, template } = monitored();
  const dashboard = dashboardOf(template);
  const graphed = graphedMetricsOf(dashboard);
  const apiDimensions = { ApiId: ref(logicalIdOf(server.webSocketApi)), Stage: 'dev' };
  const tableDimensions = { TableName: ref(logicalIdOf(server.table)) };

  it('is named after the stage, with the region because dashboards are global', () => {
    expect(dashboard.name).toEqual({
      'Fn::Join': ['', ['cevitxe-signal-dev-', { Ref: 'AWS::Region' }]],
    });
    expect(monitoring.dashboard.node.defaultChild).toBeDefined();
  });

  it('opens with a note naming the stage and the EMF namespace and dimension', () => {
    const [first] = dashboard.widgets;
    expect(first!.type).toBe('text');
    expect(first!.properties.markdown).toContain('stage dev');
    expect(first!.properties.markdown).toContain(`\`${NAMESPACE}\``);
    expect(first!.properties.markdown).toContain('`stage=dev`');
  });

  it.each(METRIC_NAMES)("graphs the stage's EMF counter %s as a sum", (name) => {
    const found = findGraphed(graphed, NAMESPACE, name, { stage: 'dev' });
    expect(found).toHaveLength(1);
    expect(found[0]!.options).toMatchObject({ stat: 'Sum', label: SIGNAL_METRIC_LABELS[name] });
  });

  it.each([
    ['Invocations', 'Sum'],
    ['Errors', 'Sum'],
    ['Throttles', 'Sum'],
    ['Duration', 'p99'],
  ])('graphs Lambda %s (%s) of each of the four functions, labelled by function', (name, stat) => {
    for (const [label, fn] of Object.entries(functionsOf(server))) {
      const found = findGraphed(graphed, 'AWS/Lambda', name, {
        FunctionName: ref(logicalIdOf(fn)),
      });
      expect(found, `${name} of ${label}`).toHaveLength(1);
      expect(found[0]!.options).toMatchObject({ stat, label });
    }
  });

  it.each(['ConnectCount', 'MessageCount', 'ClientError', 'IntegrationError', 'ExecutionError'])(
    'graphs the API Gateway count %s of this API and stage (ApiId, Stage)',
    (name) => {
      const found = findGraphed(graphed, 'AWS/ApiGateway', name, apiDimensions);
      expect(found).toHaveLength(1);
      expect(found[0]!.options).toMatchObject({ stat: 'Sum' });
    },
  );

  it('graphs the integration latency of this API and stage, average and p99', () => {
    const found = findGraphed(graphed, 'AWS/ApiGateway', 'IntegrationLatency', apiDimensions);
    expect(found.map((m) => m.options.stat ?? 'Average').sort()).toEqual(['Average', 'p99']);
  });

  it("graphs the table's consumed read and write capacity", () => {
    for (const name of ['ConsumedReadCapacityUnits', 'ConsumedWriteCapacityUnits']) {
      const found = findGraphed(graphed, 'AWS/DynamoDB', name, tableDimensions);
      expect(found, name).toHaveLength(1);
      expect(found[0]!.options).toMatchObject({ stat: 'Sum' });
    }
  });

  it("graphs the table's throttled requests summed over the operations the store uses", () => {
    const throttled = graphed.filter(
      (m) => m.name === 'ThrottledRequests' && m.dimensions.TableName === tableDimensions.TableName,
    );
    const operations = throttled.map((m) => m.dimensions.Operation);
    for (const op of ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'DeleteItem', 'UpdateItem']) {
      expect(operations).toContain(op);
    }
    expect(operations).toContain('BatchWriteItem');
    const widget = dashboard.widgets.find(
      (w) => w.properties.title === 'DynamoDB: throttled requests',
    );
    expect(JSON.stringify(widget!.properties.metrics)).toContain('"expression"');
  });

  it('shows the state of every alarm', () => {
    const widget = dashboard.widgets.find((w) => w.type === 'alarm');
    const expected = monitoring.alarms.map((alarm) => arnOf(logicalIdOf(alarm)));
    expect(widget!.properties.alarms).toEqual(expected);
  });

  it('queries warnings and errors from the log groups of all four functions', () => {
    const widget = dashboard.widgets.find((w) => w.type === 'log');
    const query = widget!.properties.query!;
    for (const fn of Object.values(functionsOf(server))) {
      expect(query).toContain(`SOURCE '${ref(logicalIdOf(fn.logGroup))}'`);
    }
    expect(query).toContain('filter level = "error" or level = "warn"');
    for (const field of ['route', 'connectionId', 'requestId', 'message']) {
      expect(query).toContain(field);
    }
  });
});

describe('SignalMonitoring alarms', () => {
  const { server, monitoring, template } = monitored();
  const functions = functionsOf(server);

  it('has twelve alarms: per function, API Gateway failures and throttling, failed deliveries, EMF', () => {
    expect(monitoring.alarms).toHaveLength(12);
    expect(alarmsOf(template)).toHaveLength(12);
    expect(
      alarmsOf(template)
        .map((a) => a.Properties.AlarmName)
        .sort(),
    ).toEqual(
      [
        ...Object.keys(functions).flatMap((name) => [`${name}-errors`, `${name}-throttles`]),
        'api-execution-errors',
        'api-throttled-requests',
        'deliver-failures',
        'handler-errors',
      ]
        .map((name) => `cevitxe-signal-dev-${name}`)
        .sort(),
    );
  });

  it('treats missing data as not breaching and fires at or above the threshold', () => {
    for (const alarm of alarmsOf(template)) {
      expect(alarm.Properties).toMatchObject({
        TreatMissingData: 'notBreaching',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        Period: 300,
        // A queue's depth is a level, not a count: its maximum over the period.
        Statistic: alarm.Properties.AlarmName.endsWith('deliver-failures') ? 'Maximum' : 'Sum',
      });
      expect(alarm.Properties.AlarmDescription).toEqual(expect.any(String));
    }
  });

  it.each([
    ['errors', 'Errors', SIGNAL_ALARM_DEFAULTS.functionErrors],
    ['throttles', 'Throttles', SIGNAL_ALARM_DEFAULTS.functionThrottles],
  ])("alarms on each function's Lambda %s", (suffix, metricName, threshold) => {
    expect(threshold).toBe(1);
    for (const [name, fn] of Object.entries(functions)) {
      expect(alarmNamed(template, `cevitxe-signal-dev-${name}-${suffix}`)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: metricName,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(fn) } }],
        Threshold: threshold,
      });
    }
  });

  it('alarms on API Gateway ExecutionError of this API and stage', () => {
    expect(alarmNamed(template, 'cevitxe-signal-dev-api-execution-errors')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'ExecutionError',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: logicalIdOf(server.webSocketApi) } },
        { Name: 'Stage', Value: 'dev' },
      ],
      Threshold: 1,
    });
  });

  it('never alarms on IntegrationError or ClientError, which count deliberate refusals', () => {
    const watched = alarmsOf(template).map((alarm) => alarm.Properties.MetricName);
    expect(watched).not.toContain('IntegrationError');
    expect(watched).not.toContain('ClientError');
  });

  it('counts throttled requests (status 429) from the access log, per stage', () => {
    template.resourceCountIs('AWS::Logs::MetricFilter', 1);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalIdOf(server.accessLogGroup!) },
      FilterPattern: '{ $.status = "429" }',
      MetricTransformations: [
        {
          MetricNamespace: NAMESPACE,
          MetricName: THROTTLED_REQUESTS_METRIC,
          MetricValue: '1',
          Unit: 'Count',
          Dimensions: [{ Key: 'stage', Value: '$.stage' }],
        },
      ],
    });
    expect(alarmNamed(template, 'cevitxe-signal-dev-api-throttled-requests')).toMatchObject({
      Namespace: NAMESPACE,
      MetricName: THROTTLED_REQUESTS_METRIC,
      Dimensions: [{ Name: 'stage', Value: 'dev' }],
      Threshold: SIGNAL_ALARM_DEFAULTS.throttledRequests,
    });
  });

  it('filters on fields the access log line really has: its stage and its status', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as {
      Properties: { AccessLogSettings: { Format: string } };
    };
    const format = stage.Properties.AccessLogSettings.Format;
    expect(format).toContain('"status":"$context.status"');
    expect(format).toContain('"stage":"$context.stage"');
  });

  it('has no throttling alarm when the stage writes no access log', () => {
    const stack = new Stack(appWithoutBundling(), 'Quiet');
    const quiet = new SignalServer(stack, 'SignalServer', {
      accessLogging: false,
      apiGatewayCloudWatchRole: false,
    });
    const alarms = new SignalMonitoring(stack, 'Monitoring', { server: quiet }).alarms;
    expect(alarms).toHaveLength(11);
    Template.fromStack(stack).resourceCountIs('AWS::Logs::MetricFilter', 0);
  });

  it('alarms on the first delivery that failed every attempt', () => {
    expect(alarmNamed(template, 'cevitxe-signal-dev-deliver-failures')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [logicalIdOf(server.deliverFailureQueue), 'QueueName'] },
        },
      ],
      Statistic: 'Maximum',
      Threshold: 1,
    });
  });

  it('alarms on the EMF Errors counter of the stage', () => {
    expect(alarmNamed(template, 'cevitxe-signal-dev-handler-errors')).toMatchObject({
      Namespace: NAMESPACE,
      MetricName: 'Errors',
      Dimensions: [{ Name: 'stage', Value: 'dev' }],
      Threshold: 1,
    });
  });

  it('watches exactly the namespace, name and dimension the handlers emit when they fail', async () => {
    const emitted: Array<Record<string, unknown>> = [];
    // A clock that passes every retry budget at each reading: the store's failure is final.
    let clock = 1_700_000_000_000;
    const services = {
      store: { getConnection: () => Promise.reject(new Error('table unavailable')) },
      messenger: { close: () => Promise.resolve() },
      limits: DEFAULT_LIMITS,
      now: () => (clock += 60_000),
    } as unknown as Services;
    const handlers = createHandlers(services, {
      log: silentLogger,
      stage: 'dev',
      emitMetrics: (emf) => emitted.push(emf),
    });
    // The socket's kind is unreadable: the handler closes it and counts the failure.
    await handlers.message({
      requestContext: { routeKey: '$default', connectionId: 'c1' },
      body: '{}',
    });

    const [emf] = emitted as Array<{
      _aws: {
        CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: unknown[] }>;
      };
      [key: string]: unknown;
    }>;
    const [directive] = emf!._aws.CloudWatchMetrics;
    const alarm = alarmNamed(template, 'cevitxe-signal-dev-handler-errors');
    const [dimension] = alarm.Dimensions as Array<{ Name: string; Value: string }>;
    expect(directive!.Namespace).toBe(alarm.Namespace);
    expect(directive!.Metrics).toContainEqual({ Name: alarm.MetricName, Unit: 'Count' });
    expect(directive!.Dimensions).toEqual([[dimension!.Name]]);
    expect(emf![dimension!.Name]).toBe(dimension!.Value);
  });

  it('names alarms after the stage, or after namePrefix', () => {
    const prod = monitored({}, 'prod').template;
    expect(
      alarmsOf(prod).every((a) => a.Properties.AlarmName.startsWith('cevitxe-signal-prod-')),
    ).toBe(true);
    expect(alarmNamed(prod, 'cevitxe-signal-prod-handler-errors').Dimensions).toEqual([
      { Name: 'stage', Value: 'prod' },
    ]);
    const custom = monitored({ namePrefix: 'team_signal-dev' }).template;
    expect(
      alarmsOf(custom).every((a) => a.Properties.AlarmName.startsWith('team_signal-dev-')),
    ).toBe(true);
    expect(dashboardOf(custom).name).toEqual({
      'Fn::Join': ['', ['team_signal-dev-', { Ref: 'AWS::Region' }]],
    });
  });

  it('takes each threshold, the period and the evaluation periods from props', () => {
    const { template: custom } = monitored({
      thresholds: {
        functionErrors: 3,
        functionThrottles: 4,
        executionErrors: 5,
        throttledRequests: 100,
        failedDeliveries: 2,
        handlerErrors: 7,
        period: Duration.minutes(10),
        evaluationPeriods: 2,
      },
    });
    const thresholdOf = (name: string) =>
      alarmNamed(custom, `cevitxe-signal-dev-${name}`).Threshold;
    expect(thresholdOf('connect-errors')).toBe(3);
    expect(thresholdOf('deliver-throttles')).toBe(4);
    expect(thresholdOf('api-execution-errors')).toBe(5);
    expect(thresholdOf('api-throttled-requests')).toBe(100);
    expect(thresholdOf('deliver-failures')).toBe(2);
    expect(thresholdOf('handler-errors')).toBe(7);
    for (const alarm of alarmsOf(custom)) {
      expect(alarm.Properties).toMatchObject({ Period: 600, EvaluationPeriods: 2 });
    }
  });

  it('keeps the defaults for thresholds that are not given', () => {
    const { template: custom } = monitored({ thresholds: { throttledRequests: 100 } });
    expect(alarmNamed(custom, 'cevitxe-signal-dev-api-throttled-requests').Threshold).toBe(100);
    expect(alarmNamed(custom, 'cevitxe-signal-dev-deliver-failures').Threshold).toBe(1);
    expect(alarmNamed(custom, 'cevitxe-signal-dev-connect-errors').Period).toBe(300);
  });
});

describe('SignalMonitoring notifications', () => {
  it('creates no topic and no alarm actions without alarmEmail or alarmTopic', () => {
    const { monitoring, template } = monitored();
    expect(monitoring.topic).toBeUndefined();
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    for (const alarm of alarmsOf(template)) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
      expect(alarm.Properties.OKActions).toBeUndefined();
    }
  });

  it('creates a topic with an e-mail subscription for alarmEmail, publishable over TLS only', () => {
    const { monitoring, template } = monitored({ alarmEmail: 'ops@example.com' });
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const topicId = logicalIdOf(monitoring.topic as Topic);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('sends every alarm and its recovery to the e-mail topic', () => {
    const { monitoring, template } = monitored({ alarmEmail: 'ops@example.com' });
    const topicRef = { Ref: logicalIdOf(monitoring.topic as Topic) };
    expect(alarmsOf(template)).toHaveLength(12);
    for (const alarm of alarmsOf(template)) {
      expect(alarm.Properties.AlarmActions, alarm.Properties.AlarmName).toEqual([topicRef]);
      expect(alarm.Properties.OKActions, alarm.Properties.AlarmName).toEqual([topicRef]);
    }
  });

  it('sends every alarm to an existing alarmTopic and creates no topic of its own', () => {
    const stack = new Stack(appWithoutBundling(), 'Shared');
    const server = new SignalServer(stack, 'SignalServer', { stageName: 'dev' });
    const existing = Topic.fromTopicArn(stack, 'Ops', 'arn:aws:sns:eu-west-1:111122223333:ops');
    const monitoring = new SignalMonitoring(stack, 'Monitoring', { server, alarmTopic: existing });
    const template = Template.fromStack(stack);

    expect(monitoring.topic).toBe(existing);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of alarmsOf(template)) {
      expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:ops']);
    }
  });

  it('accepts an e-mail address that is only known at deploy time', () => {
    const stack = new Stack(appWithoutBundling(), 'Param');
    const server = new SignalServer(stack, 'SignalServer', { stageName: 'dev' });
    const email = new CfnParameter(stack, 'AlarmEmail').valueAsString;
    new SignalMonitoring(stack, 'Monitoring', { server, alarmEmail: email });
    Template.fromStack(stack).hasResourceProperties('AWS::SNS::Subscription', {
      Endpoint: { Ref: 'AlarmEmail' },
    });
  });
});

describe('SignalMonitoring props validation', () => {
  it('refuses alarmEmail together with alarmTopic', () => {
    const stack = new Stack(appWithoutBundling(), 'Both');
    const server = new SignalServer(stack, 'SignalServer');
    const topic = new Topic(stack, 'Ops');
    expect(
      () =>
        new SignalMonitoring(stack, 'Monitoring', {
          server,
          alarmEmail: 'ops@example.com',
          alarmTopic: topic,
        }),
    ).toThrow(/alarmEmail and alarmTopic cannot both be set/);
  });

  it.each([
    '',
    'ops',
    'ops@',
    '@example.com',
    'ops@example',
    'o ps@example.com',
    'ops@@example.com',
    'ops@example..com',
    'a@b.com,c@d.com',
  ])('refuses the malformed alarmEmail %j', (alarmEmail) => {
    expect(build({ alarmEmail })).toThrow(/alarmEmail ".*" is not an e-mail address/);
  });

  it.each(['ops@example.com', 'first.last+signal@mail.example.co.uk'])(
    'accepts the alarmEmail %s',
    (alarmEmail) => {
      expect(build({ alarmEmail })).not.toThrow();
    },
  );

  it.each([
    ['functionErrors', 0],
    ['functionThrottles', -1],
    ['executionErrors', Number.NaN],
    ['throttledRequests', Number.POSITIVE_INFINITY],
    ['failedDeliveries', 0],
    ['handlerErrors', -0.5],
  ])('refuses thresholds.%s = %s', (name, value) => {
    expect(build({ thresholds: { [name]: value } })).toThrow(
      new RegExp(`thresholds\\.${name} must be a number greater than 0`),
    );
  });

  it.each([0, 1.5, -2])('refuses thresholds.evaluationPeriods = %s', (evaluationPeriods) => {
    expect(build({ thresholds: { evaluationPeriods } })).toThrow(
      /thresholds\.evaluationPeriods must be an integer of at least 1/,
    );
  });

  it.each([Duration.seconds(30), Duration.seconds(90), Duration.millis(61_500)])(
    'refuses a period that is not a whole number of minutes (%s)',
    (period) => {
      expect(build({ thresholds: { period } })).toThrow(
        /thresholds\.period must be a whole number of minutes/,
      );
    },
  );

  it.each(['', 'has space', 'dots.in.it', 'x'.repeat(201)])(
    'refuses namePrefix %j',
    (namePrefix) => {
      expect(build({ namePrefix })).toThrow(/namePrefix ".*" must be 1-200 characters/);
    },
  );

  it('lists every problem at once, naming the construct', () => {
    expect(
      build({ alarmEmail: 'nope', thresholds: { functionErrors: 0, evaluationPeriods: 0 } }),
    ).toThrow(
      /Invalid SignalMonitoring props \(Monitored\/Monitoring\):\n- alarmEmail "nope".*\n- thresholds\.functionErrors.*\n- thresholds\.evaluationPeriods/,
    );
  });
});

describe("each stage's stack", () => {
  it.each(Object.keys(STAGES) as StageName[])(
    'has the %s dashboard and its twelve alarms on the stage, notifying no one by default',
    (stage) => {
      const { stack, template } = stageStack(stage);
      expect(STAGES[stage].monitoring).toEqual({});
      expect(dashboardOf(template).name).toEqual({
        'Fn::Join': ['', [`cevitxe-signal-${stage}-`, { Ref: 'AWS::Region' }]],
      });
      expect(stack.monitoring.alarms).toHaveLength(12);
      expect(alarmsOf(template)).toHaveLength(12);
      expect(alarmNamed(template, `cevitxe-signal-${stage}-handler-errors`).Dimensions).toEqual([
        { Name: 'stage', Value: stage },
      ]);
      expect(alarmNamed(template, `cevitxe-signal-${stage}-api-throttled-requests`)).toMatchObject({
        MetricName: THROTTLED_REQUESTS_METRIC,
        Dimensions: [{ Name: 'stage', Value: stage }],
      });
      for (const [name, fn] of Object.entries(functionsOf(stack.server))) {
        expect(alarmNamed(template, `cevitxe-signal-${stage}-${name}-errors`).Dimensions).toEqual([
          { Name: 'FunctionName', Value: { Ref: logicalIdOf(fn) } },
        ]);
      }
      template.resourceCountIs('AWS::SNS::Topic', 0);
    },
  );

  it("passes the stage config's monitoring to the stack, not to the server", () => {
    const props = signalStackProps('prod');
    expect(props.monitoring).toBe(STAGES.prod.monitoring);
    expect(props.server).not.toHaveProperty('monitoring');
  });

  it('lets prod’s alarms, every one, reach the alarmEmail configured for it', () => {
    const props = { ...signalStackProps('prod'), monitoring: { alarmEmail: 'ops@example.com' } };
    const stack = new SignalStack(appWithoutBundling(), props.stackName, props);
    const template = Template.fromStack(stack);
    expect(alarmsOf(template)).toHaveLength(12);
    const topicRef = { Ref: logicalIdOf(stack.monitoring.topic as Topic) };
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: topicRef,
    });
    for (const alarm of alarmsOf(template)) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
      expect(alarm.Properties.OKActions).toEqual([topicRef]);
    }
  });
});

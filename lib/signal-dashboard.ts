// The CloudWatch dashboard of one stage, row by row: signalling counters, API Gateway, Lambda,
// DynamoDB with the alarms' states, and the functions' recent warnings and errors.
import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  LogQueryWidget,
  Stats,
  TextWidget,
  type IAlarm,
  type IWidget,
  type Metric,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { NAMESPACE, type MetricName } from '../lambda/core/metrics.js';
import type { SignalFunction } from './signal-function.js';
import { EMF_STAGE_DIMENSION, type SignalMetrics } from './signal-metrics.js';
import type { SignalServer } from './signal-server.js';

/** What a stage's dashboard shows. */
export interface SignalDashboardProps {
  /** The dashboard's name, global to the account. */
  readonly dashboardName: string;
  /** The server it shows. */
  readonly server: SignalServer;
  /** The stage's metrics. */
  readonly metrics: SignalMetrics;
  /** The alarms whose states it shows. */
  readonly alarms: readonly IAlarm[];
}

/** The stage's dashboard, as construct `Dashboard` in `scope`. */
export function createSignalDashboard(scope: Construct, props: SignalDashboardProps): Dashboard {
  const { server, metrics, alarms } = props;
  const dashboard = new Dashboard(scope, 'Dashboard', {
    dashboardName: props.dashboardName,
    defaultInterval: Duration.hours(3),
  });
  dashboard.addWidgets(heading(server.stage.stageName));
  dashboard.addWidgets(...signallingRow(metrics));
  dashboard.addWidgets(...apiGatewayRow(metrics));
  dashboard.addWidgets(...lambdaRow(metrics));
  dashboard.addWidgets(...tableRow(server, metrics, alarms));
  dashboard.addWidgets(recentProblems(metrics));
  return dashboard;
}

function heading(stageName: string): IWidget {
  return new TextWidget({
    width: 24,
    height: 2,
    markdown: [
      `# cevitxe signal: stage ${stageName}`,
      `Managed by CloudFormation (lib/signal-monitoring.ts): changes made here are overwritten. Signalling counters are EMF metrics in namespace \`${NAMESPACE}\`, dimension \`${EMF_STAGE_DIMENSION}=${stageName}\`.`,
    ].join('\n\n'),
  });
}

function signallingRow(metrics: SignalMetrics): IWidget[] {
  const counter = (name: MetricName) => metrics.counter(name);
  return [
    new GraphWidget({
      title: 'Connections, introductions and pairs',
      width: 8,
      left: [
        counter('Connections'),
        counter('Introductions'),
        counter('IntroductionsDeferred'),
        counter('PairsMade'),
      ],
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
  ];
}

function apiGatewayRow(metrics: SignalMetrics): IWidget[] {
  const api = (name: string, statistic?: string) => metrics.api(name, statistic);
  const throttled = metrics.throttledRequests;
  return [
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
  ];
}

function lambdaRow(metrics: SignalMetrics): IWidget[] {
  const perFunction = (title: string, metricOf: (fn: SignalFunction) => Metric) =>
    new GraphWidget({
      title,
      width: 6,
      left: metrics.functions.map(([name, fn]) =>
        metricOf(fn).with({ label: name, period: metrics.period }),
      ),
    });
  return [
    perFunction('Lambda invocations', (fn) => fn.metricInvocations({ statistic: Stats.SUM })),
    perFunction('Lambda errors', (fn) => fn.metricErrors({ statistic: Stats.SUM })),
    perFunction('Lambda throttles', (fn) => fn.metricThrottles({ statistic: Stats.SUM })),
    perFunction('Lambda duration p99 (ms)', (fn) =>
      fn.metricDuration({ statistic: Stats.percentile(99) }),
    ),
  ];
}

function tableRow(
  server: SignalServer,
  metrics: SignalMetrics,
  alarms: readonly IAlarm[],
): IWidget[] {
  const { period } = metrics;
  return [
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
    new AlarmStatusWidget({ title: 'Alarms', width: 8, height: 6, alarms: [...alarms] }),
  ];
}

function recentProblems(metrics: SignalMetrics): IWidget {
  return new LogQueryWidget({
    title: 'Recent warnings and errors',
    width: 24,
    height: 8,
    logGroupNames: metrics.functions.map(([, fn]) => fn.logGroup.logGroupName),
    queryLines: [
      'fields @timestamp, level, route, message, error.message, connectionId, requestId',
      'filter level = "error" or level = "warn"',
      'sort @timestamp desc',
      'limit 100',
    ],
  });
}

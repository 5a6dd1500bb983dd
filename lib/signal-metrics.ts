// The metrics of one stage that its alarms and its dashboard both read.
import type { Duration } from 'aws-cdk-lib';
import { Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import { NAMESPACE, type MetricName } from '../lambda/core/metrics.js';
import type { SignalFunction } from './signal-function.js';
import type { SignalServer } from './signal-server.js';

/** The EMF counters the functions log (lambda/core/metrics.ts), with their dashboard labels. */
export const SIGNAL_METRIC_LABELS: Readonly<Record<MetricName, string>> = {
  Connections: 'Connections registered',
  Introductions: 'Introductions sent',
  IntroductionsDeferred: 'Joins deferred: introduction budget spent',
  PairsMade: 'Pairs made',
  FramesRelayed: 'Frames relayed',
  FramesHeld: 'Frames held',
  FramesDelivered: 'Held frames delivered',
  Gone: '410 Gone',
  Errors: 'Handler errors',
};

/** The dimension the functions put on every EMF counter (lambda/core/handlers.ts). */
export const EMF_STAGE_DIMENSION = 'stage';

/**
 * The metric (namespace {@link NAMESPACE}, dimension `stage`) counting access log lines with
 * status 429; the stage's name comes from the line's own `stage` field.
 */
export const THROTTLED_REQUESTS_METRIC = 'ThrottledRequests';

/**
 * A stage's metrics over one period. Alarms take them plain (a label would turn an alarm into a
 * metric-math alarm); the dashboard labels them.
 */
export class SignalMetrics {
  /** The server's four functions, each with the short name alarms and graphs give it. */
  public readonly functions: ReadonlyArray<readonly [string, SignalFunction]>;
  /** Requests API Gateway throttled, from the stage's access log; none without one. */
  public readonly throttledRequests?: Metric;

  constructor(
    private readonly server: SignalServer,
    public readonly period: Duration,
  ) {
    this.functions = [
      ['connect', server.connectFunction],
      ['default', server.defaultFunction],
      ['disconnect', server.disconnectFunction],
      ['deliver', server.deliverFunction],
    ];
    if (server.accessLogGroup) this.throttledRequests = this.stageSum(THROTTLED_REQUESTS_METRIC);
  }

  /** An API Gateway metric of the server's API and stage. */
  api(metricName: string, statistic: string = Stats.SUM): Metric {
    return this.server.stage.metric(metricName, { statistic, period: this.period });
  }

  /** One of the functions' EMF counters, summed for this stage. */
  emf(metricName: MetricName): Metric {
    return this.stageSum(metricName);
  }

  /** An EMF counter with its dashboard label. */
  counter(metricName: MetricName): Metric {
    return this.emf(metricName).with({ label: SIGNAL_METRIC_LABELS[metricName] });
  }

  private stageSum(metricName: string): Metric {
    return new Metric({
      namespace: NAMESPACE,
      metricName,
      dimensionsMap: { [EMF_STAGE_DIMENSION]: this.server.stage.stageName },
      statistic: Stats.SUM,
      period: this.period,
    });
  }
}

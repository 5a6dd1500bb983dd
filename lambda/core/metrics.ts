/**
 * Counters for CloudWatch, written as embedded metric format (EMF): one JSON log line per
 * invocation, which CloudWatch turns into metrics without any API call.
 */
export type MetricName =
  | 'Connections'
  | 'Introductions'
  | 'IntroductionsDeferred'
  | 'PairsMade'
  | 'FramesRelayed'
  | 'FramesHeld'
  | 'FramesDelivered'
  | 'Gone'
  | 'Errors';

export interface Metrics {
  count(name: MetricName, value?: number): void;
}

export const NAMESPACE = 'CevitxeSignal';

export class MetricCounter implements Metrics {
  private readonly counts = new Map<MetricName, number>();

  count(name: MetricName, value = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }

  /** The EMF document for what was counted, or undefined when nothing was. */
  emf(dimensions: Record<string, string>, timestamp: number): Record<string, unknown> | undefined {
    if (this.counts.size === 0) return undefined;
    const names = [...this.counts.keys()];
    return {
      _aws: {
        Timestamp: timestamp,
        CloudWatchMetrics: [
          {
            Namespace: NAMESPACE,
            Dimensions: [Object.keys(dimensions)],
            Metrics: names.map((Name) => ({ Name, Unit: 'Count' })),
          },
        ],
      },
      ...dimensions,
      ...Object.fromEntries(this.counts),
    };
  }
}

export const noMetrics: Metrics = { count: () => undefined };

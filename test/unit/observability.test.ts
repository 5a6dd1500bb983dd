import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLogger,
  describeError,
  isLevel,
  jsonSink,
  silentLogger,
  type Fields,
  type Level,
} from '../../lambda/core/log.js';
import { MetricCounter, NAMESPACE, noMetrics } from '../../lambda/core/metrics.js';

afterEach(() => {
  vi.restoreAllMocks();
});

function captured(level: Level) {
  const lines: { level: Level; message: string; fields: Fields }[] = [];
  const log = createLogger(level, (lineLevel, message, fields) =>
    lines.push({ level: lineLevel, message, fields }),
  );
  return { log, lines };
}

describe('createLogger', () => {
  it('writes lines at or above its level only', () => {
    const { log, lines } = captured('warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines.map((line) => line.level)).toEqual(['warn', 'error']);
  });

  it('adds bound fields to every line, and a line’s own fields win', () => {
    const { log, lines } = captured('debug');
    const bound = log.with({ connectionId: 'c1', route: '$default' }).with({ requestId: 'r1' });
    bound.info('hello', { route: 'override', n: 1 });
    log.info('unbound');
    expect(lines[0]).toEqual({
      level: 'info',
      message: 'hello',
      fields: { connectionId: 'c1', route: 'override', requestId: 'r1', n: 1 },
    });
    expect(lines[1]?.fields).toEqual({});
  });

  it('knows its four levels', () => {
    expect(['debug', 'info', 'warn', 'error'].every(isLevel)).toBe(true);
    expect(isLevel('trace')).toBe(false);
    expect(isLevel('toString')).toBe(false);
    expect(isLevel(undefined)).toBe(false);
  });

  it('has a silent logger for tests that writes nothing', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    silentLogger.error('nothing', { error: new Error('x') });
    silentLogger.with({ a: 1 }).error('nothing');
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('jsonSink', () => {
  it('writes one JSON object a line with level, message, timestamp and fields', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    jsonSink('info', 'relay pair made', { connectionId: 'c1', held: 2 });
    expect(spy).toHaveBeenCalledTimes(1);
    const text = spy.mock.calls[0]![0] as string;
    expect(text).not.toContain('\n');
    const line = JSON.parse(text) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', message: 'relay pair made', connectionId: 'c1' });
    expect(new Date(line.timestamp as string).toString()).not.toBe('Invalid Date');
  });

  it('reduces an error to its name and message (no stack, no SDK metadata)', () => {
    const spy = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = Object.assign(new TypeError('bad'), { $metadata: { requestId: 'x' } });
    jsonSink('error', 'handler failed', { error });
    const line = JSON.parse(spy.mock.calls[0]![0] as string) as Record<string, unknown>;
    expect(line.error).toEqual({ name: 'TypeError', message: 'bad' });
    expect(describeError('plain')).toBe('plain');
    expect(describeError(undefined)).toBe('undefined');
  });
});

describe('MetricCounter', () => {
  it('emits nothing when nothing was counted', () => {
    expect(new MetricCounter().emf({ stage: 'dev' }, 0)).toBeUndefined();
  });

  it('emits one embedded-metric-format document with every counter and the stage dimension', () => {
    const metrics = new MetricCounter();
    metrics.count('Introductions');
    metrics.count('Introductions');
    metrics.count('FramesRelayed', 5);
    expect(metrics.emf({ stage: 'prod' }, 1_700_000_000_000)).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: NAMESPACE,
            Dimensions: [['stage']],
            Metrics: [
              { Name: 'Introductions', Unit: 'Count' },
              { Name: 'FramesRelayed', Unit: 'Count' },
            ],
          },
        ],
      },
      stage: 'prod',
      Introductions: 2,
      FramesRelayed: 5,
    });
  });

  it('has a no-op counter', () => {
    expect(() => noMetrics.count('Errors')).not.toThrow();
  });
});

/**
 * Readable log lines for a person watching `npm start`: the same logger and fields as on
 * Lambda (lambda/core/log.ts), written as one short line each instead of JSON.
 *
 *   12:04:05.120 info  $connect  BFHPhfCWIAMCKlQ=  introduction socket open  peerId=ab12
 */
import { describeError, type Fields, type Level, type Sink } from '../lambda/core/log.js';

/** Fields that are part of the line's frame, or too noisy to repeat on every line. */
const FRAMED = new Set(['route', 'connectionId', 'requestId', 'error']);

function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  return JSON.stringify(value) ?? String(value);
}

/** Formats one line. Exported for the tests and for callers with their own output. */
export function formatLine(level: Level, message: string, fields: Fields, at = new Date()): string {
  const time = at.toISOString().slice(11, 23);
  const route = typeof fields.route === 'string' ? fields.route : '';
  const connection = typeof fields.connectionId === 'string' ? fields.connectionId : '';
  const rest = Object.entries(fields)
    .filter(([name, value]) => !FRAMED.has(name) && value !== undefined)
    .map(([name, value]) => `${name}=${show(value)}`);
  if (fields.error !== undefined) {
    const error = describeError(fields.error);
    rest.push(
      `error=${show(typeof error === 'string' ? error : `${String(error.name)}: ${String(error.message)}`)}`,
    );
  }
  return [time, level.padEnd(5), route.padEnd(11), connection.padEnd(16), message, ...rest]
    .join(' ')
    .replace(/\s+$/, '');
}

/** A sink writing readable lines; errors and warnings to stderr, the rest to stdout. */
export function readableSink(
  write: (level: Level, line: string) => void = (level, line) =>
    (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`),
): Sink {
  return (level, message, fields) => write(level, formatLine(level, message, fields));
}

/** A sink that drops everything: for tests that want quiet output. */
export const quietSink: Sink = () => undefined;

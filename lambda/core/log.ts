/**
 * Structured logs: one JSON object a line, with the connection id, route and request id the
 * handler bound. Never payloads, tokens or key names: only ids, counts and outcomes.
 */
/** The log levels, least severe first: the one list that the stack's props and the core share. */
export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: Fields): Logger;
}

export const isLevel = (value: unknown): value is Level =>
  typeof value === 'string' && Object.hasOwn(ORDER, value);

export type Sink = (level: Level, message: string, fields: Fields) => void;

export const jsonSink: Sink = (level, message, fields) => {
  const { error, ...rest } = fields;
  const line = {
    level,
    message,
    timestamp: new Date().toISOString(),
    ...rest,
    ...(error === undefined ? {} : { error: describeError(error) }),
  };
  console.log(JSON.stringify(line));
};

export function describeError(error: unknown): Fields | string {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return String(error);
}

export function createLogger(level: Level, sink: Sink = jsonSink, base: Fields = {}): Logger {
  const at =
    (lineLevel: Level) =>
    (message: string, fields: Fields = {}) => {
      if (ORDER[lineLevel] >= ORDER[level]) sink(lineLevel, message, { ...base, ...fields });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    with: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/** For tests: a logger that drops everything. */
export const silentLogger: Logger = createLogger('error', () => undefined);

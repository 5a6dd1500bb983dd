/**
 * The signal protocol's messages and parameters (docs/protocol.md). Parsing never throws on client
 * input: it returns either a value or a typed error that the caller can answer with.
 */
import { KEEP_ALIVE_INTRODUCTION, TRANSPORT_MARKER } from '../../client/wire.js';
import type { Limits } from './limits.js';

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(error: string): Result<T> => ({ ok: false, error });

/**
 * The client transport a relay socket speaks, marked at the handshake (`transport=…`): the
 * SignalSocket framing of client/. Absent: a plain socket, whose frames are the app's own.
 */
export const SIGNAL_SOCKET_TRANSPORT = TRANSPORT_MARKER;
export type Transport = typeof SIGNAL_SOCKET_TRANSPORT;

/** What a socket asked for at `$connect`, from the query form `?type=…&localId=…`. */
export type ConnectRequest =
  | { type: 'introduction'; localId: string }
  | { type: 'connection'; localId: string; remoteId: string; key: string; transport?: Transport };

/** An introduction socket's message: `type` is informative, `join` and `leave` always apply. */
export interface KeyChange {
  readonly join: readonly string[];
  readonly leave: readonly string[];
}

export interface Introduction {
  type: 'Introduction';
  id: string;
  keys: string[];
}

export interface ErrorReply {
  type: 'Error';
  error: string;
}

export type ServerMessage = Introduction | ErrorReply;

// C0 and C1 control characters and DEL: refusing them is the point of this pattern.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks one id or key: a non-empty string, not too long, no control characters. */
export function checkName(what: string, value: unknown, limits: Limits): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string`;
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > limits.maxIdLength)
    return `${what} is longer than ${limits.maxIdLength} characters`;
  if (CONTROL.test(value)) return `${what} must not contain control characters`;
  return undefined;
}

type Query = Readonly<Record<string, string | undefined>> | null | undefined;

/** Reads the `$connect` query. Missing or invalid parameters are an error (HTTP 400). */
export function parseConnectRequest(query: Query, limits: Limits): Result<ConnectRequest> {
  const q = query ?? {};
  const type = q.type;
  const localError = checkName('localId', q.localId, limits);
  const transport = q.transport;
  if (transport !== undefined && transport !== SIGNAL_SOCKET_TRANSPORT)
    return fail(`transport must be ${SIGNAL_SOCKET_TRANSPORT}, or absent for a plain socket`);
  if (type === 'introduction') {
    if (localError) return fail(localError);
    return ok({ type, localId: q.localId! });
  }
  if (type === 'connection') {
    const error =
      localError ?? checkName('remoteId', q.remoteId, limits) ?? checkName('key', q.key, limits);
    if (error) return fail(error);
    if (q.localId === q.remoteId) return fail('localId and remoteId must differ');
    return ok({
      type,
      localId: q.localId!,
      remoteId: q.remoteId!,
      key: q.key!,
      ...(transport ? { transport } : {}),
    });
  }
  return fail(
    type === undefined
      ? 'type is missing (introduction or connection)'
      : 'type must be introduction or connection',
  );
}

function parseKeyList(field: string, value: unknown, limits: Limits): Result<string[]> {
  if (value === undefined || value === null) return ok([]);
  if (!Array.isArray(value)) return fail(`${field} must be an array of keys`);
  if (value.length > limits.maxKeysPerMessage)
    return fail(`${field} has more than ${limits.maxKeysPerMessage} keys`);
  for (const key of value as unknown[]) {
    const error = checkName(`every key in ${field}`, key, limits);
    if (error) return fail(error);
  }
  return ok(value as string[]);
}

/** Reads an introduction socket's frame: `{ type, join?, leave? }`. */
export function parseKeyChange(body: string | undefined, limits: Limits): Result<KeyChange> {
  let message: unknown;
  try {
    message = JSON.parse(body ?? '');
  } catch {
    return fail('message is not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    return fail('message must be a JSON object');
  const { join, leave } = message as { join?: unknown; leave?: unknown };
  const joined = parseKeyList('join', join, limits);
  if (!joined.ok) return joined;
  const left = parseKeyList('leave', leave, limits);
  if (!left.ok) return left;
  return ok({ join: joined.value, leave: left.value });
}

/** A peer's key set after a message: `(keys ∪ join) − leave`, in insertion order, no duplicates. */
export function applyKeyChange(keys: readonly string[], change: KeyChange): string[] {
  const leaving = new Set(change.leave);
  return [...new Set([...keys, ...change.join])].filter((key) => !leaving.has(key));
}

/** The keys two peers share, ordered as in the first peer's set. */
export function sharedKeys(mine: readonly string[], theirs: readonly string[]): string[] {
  const other = new Set(theirs);
  return mine.filter((key) => other.has(key));
}

export const introduction = (id: string, keys: string[]): Introduction => ({
  type: 'Introduction',
  id,
  keys,
});

export const errorReply = (error: string): ErrorReply => ({ type: 'Error', error });

/**
 * What the client transport sends on an idle introduction socket so that neither API Gateway
 * nor CloudFront cuts it: answered with nothing and changing nothing. Only this exact text; on
 * a relay socket the same text is the app's and is relayed like any frame.
 */
export const KEEP_ALIVE_FRAME = KEEP_ALIVE_INTRODUCTION;

/**
 * Why two relay sockets of a pair may not be paired, as told to `mine`: one speaks the
 * SignalSocket transport and the other does not, so the plain app would see framing.
 */
export function transportMismatch(mine?: Transport, theirs?: Transport): string | undefined {
  if (mine === theirs) return undefined;
  return mine
    ? "this relay socket uses the SignalSocket transport and the peer's does not"
    : "the peer's relay socket uses the SignalSocket transport and this one does not";
}

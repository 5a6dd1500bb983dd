/**
 * API Gateway's WebSocket events, built the way AWS builds them, so that the handlers see
 * locally what they see deployed. The shapes follow captured AWS events
 * (docs/local-vs-aws.md, the event shapes row):
 *
 * - `$connect` carries the handshake's headers (names in the client's case), its query (absent
 *   when there is none) and the full `requestContext`.
 * - `$default` (message) events carry only `requestContext` (with `messageId`), `body` and
 *   `isBase64Encoded`: no client headers, no query.
 * - `$disconnect` carries `requestContext` with `disconnectStatusCode` and `disconnectReason`,
 *   plus the four fixed headers AWS adds (`Host`, `x-api-key`, `X-Forwarded-For`, `x-restapi`),
 *   none of them the client's.
 */
import { randomBytes } from 'node:crypto';

/**
 * An id shaped like API Gateway's connection, request and message ids: 11 random bytes in
 * base64 (16 characters ending in `=`, e.g. `BFHPhfCWIAMCKlQ=`). It may hold `+` and `/`, so
 * callers of the management API must URL-encode it, as on AWS.
 */
export const newAwsId = (): string => randomBytes(11).toString('base64');

/** An API id like `a1b2c3d4e5`: ten lower-case letters and digits. */
export function newApiId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(10)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestContext.requestTime` as AWS writes it: `19/Feb/2024:07:11:42 +0000`. */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

/** What every event of one connection shares: fixed at the handshake. */
export interface ConnectionFacts {
  connectionId: string;
  connectedAt: number;
  stage: string;
  apiId: string;
  domainName: string;
  sourceIp: string;
  userAgent?: string;
}

export interface RequestContext {
  routeKey: '$connect' | '$default' | '$disconnect';
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  messageDirection: 'IN';
  connectionId: string;
  connectedAt: number;
  requestTimeEpoch: number;
  requestTime: string;
  requestId: string;
  extendedRequestId: string;
  stage: string;
  domainName: string;
  apiId: string;
  identity: { sourceIp: string; userAgent?: string };
  messageId?: string;
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

export interface ConnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  requestContext: RequestContext;
  isBase64Encoded: false;
}

export interface MessageEvent {
  requestContext: RequestContext;
  body: string;
  isBase64Encoded: false;
}

export interface DisconnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  requestContext: RequestContext;
  isBase64Encoded: false;
}

function context(
  facts: ConnectionFacts,
  route: Pick<RequestContext, 'routeKey' | 'eventType'>,
  at: number,
): RequestContext {
  // AWS gives $connect the same request and extended request id; so do we for every event.
  const requestId = newAwsId();
  return {
    ...route,
    messageDirection: 'IN',
    connectionId: facts.connectionId,
    connectedAt: facts.connectedAt,
    requestTimeEpoch: at,
    requestTime: requestTime(at),
    requestId,
    extendedRequestId: requestId,
    stage: facts.stage,
    domainName: facts.domainName,
    apiId: facts.apiId,
    identity: {
      sourceIp: facts.sourceIp,
      ...(facts.userAgent === undefined ? {} : { userAgent: facts.userAgent }),
    },
  };
}

/**
 * Headers as API Gateway passes them: names in the client's case (from Node's `rawHeaders`),
 * `headers` holding the last value of a repeated name and `multiValueHeaders` all of them.
 * AWS adds the forwarding headers of its load balancer; so do we, unless the client sent them.
 */
export function connectHeaders(
  rawHeaders: readonly string[],
  extra: Record<string, string>,
): Pick<ConnectEvent, 'headers' | 'multiValueHeaders'> {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const present = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  for (const [name, value] of Object.entries(extra)) {
    if (present.has(name.toLowerCase())) continue;
    headers[name] = value;
    multiValueHeaders[name] = [value];
  }
  return { headers, multiValueHeaders };
}

/**
 * The query as API Gateway passes it: names and values percent-decoded (`+` as a space, as
 * AWS's proxy integrations do), `queryStringParameters` holding the last value of a repeated
 * name. Both fields are absent when the request has no query.
 */
export function connectQuery(
  rawQuery: string,
): Pick<ConnectEvent, 'queryStringParameters' | 'multiValueQueryStringParameters'> {
  const params = new URLSearchParams(rawQuery);
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of params) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  if (Object.keys(single).length === 0) return {};
  return { queryStringParameters: single, multiValueQueryStringParameters: multi };
}

export function connectEvent(
  facts: ConnectionFacts,
  rawHeaders: readonly string[],
  rawQuery: string,
  forwarded: { port: number; proto: 'http' | 'https' },
): ConnectEvent {
  const at = facts.connectedAt;
  const traceId = `Root=1-${Math.floor(at / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  return {
    ...connectHeaders(rawHeaders, {
      'X-Amzn-Trace-Id': traceId,
      'X-Forwarded-For': facts.sourceIp,
      'X-Forwarded-Port': String(forwarded.port),
      'X-Forwarded-Proto': forwarded.proto,
    }),
    ...connectQuery(rawQuery),
    requestContext: context(facts, { routeKey: '$connect', eventType: 'CONNECT' }, at),
    isBase64Encoded: false,
  };
}

export function messageEvent(facts: ConnectionFacts, body: string, at: number): MessageEvent {
  return {
    requestContext: {
      ...context(facts, { routeKey: '$default', eventType: 'MESSAGE' }, at),
      messageId: newAwsId(),
    },
    body,
    isBase64Encoded: false,
  };
}

export function disconnectEvent(
  facts: ConnectionFacts,
  statusCode: number,
  reason: string,
  at: number,
): DisconnectEvent {
  const fixed = { Host: facts.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers: fixed,
    multiValueHeaders: Object.fromEntries(
      Object.entries(fixed).map(([name, value]) => [name, [value]]),
    ),
    requestContext: {
      ...context(facts, { routeKey: '$disconnect', eventType: 'DISCONNECT' }, at),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
    },
    isBase64Encoded: false,
  };
}

/**
 * The local gateway: API Gateway's WebSocket API, its management API and Lambda's Invoke API
 * on one loopback port, running the very handlers that run on AWS (createHandlers over
 * createServices, with their real AWS SDK clients pointed here).
 *
 * It is strict, not lenient (../shared/STYLE.md): it refuses what API Gateway refuses, so that
 * what passes locally passes deployed. Each behaviour below mirrors a row of
 * ../shared/API-GATEWAY.md marked "emulate":
 *
 * - WebSockets are served at the stage URL `/{stage}` only (query form). The original path
 *   forms (`/introduction/:id`, `/connection/:a/:b/:key`) and the fish page go through
 *   edge/rewrite.js, the CloudFront Function deployed in front of API Gateway, run by
 *   edge/load.ts. Any other WebSocket path: 403.
 * - `$connect` runs before the handshake completes; a non-2xx statusCode refuses the handshake
 *   with that status. Until `$connect` returns, the management API answers 410 for the socket.
 * - Events are shaped as AWS's (local/events.ts); messages of one socket are handed to the
 *   handler concurrently, never one after another; a handler that throws gives the client
 *   API Gateway's internal-error frame.
 * - A binary frame closes the socket with 1003, a frame over 32 KB with 1009; idle sockets
 *   and sockets past the maximum duration are closed (see CLOSE below).
 * - `@connections` (POST, GET, DELETE) with AWS's status codes and `x-amzn-ErrorType`.
 * - Lambda's Invoke (`InvocationType: Event`) for the deliver function: 202, then it runs.
 * - Optionally, the stage's throttle (a token bucket over messages and handshakes: a throttled
 *   message is dropped with API Gateway's error frame, a throttled handshake gets 429) and
 *   Lambda's scheduling spread (each message invocation starts 0–N ms late, so that frames sent
 *   back to back may be handled out of order, as on AWS).
 */
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  isResponse,
  loadRewrite,
  serializeQuerystring,
  viewerRequestEvent,
  type CloudFrontResponse,
  type Rewrite,
} from '../edge/load.js';
import type { AccessPolicy } from '../lambda/core/access.js';
import { createHandlers, type HandlerResult, type Handlers } from '../lambda/core/handlers.js';
import { DEFAULT_LIMITS, MAX_FRAME_BYTES, type Limits } from '../lambda/core/limits.js';
import { createLogger, type Level, type Logger, type Sink } from '../lambda/core/log.js';
import { createServices, type ClientOverrides } from '../lambda/runtime.js';
import {
  LOCAL_AWS,
  ensureTable,
  isLocalEndpoint,
  startDynalite,
  type LocalDynamo,
} from './dynamodb.js';
import {
  connectEvent,
  disconnectEvent,
  messageEvent,
  newApiId,
  newAwsId,
  type ConnectionFacts,
  type MessageEvent,
} from './events.js';
import { readableSink } from './log.js';
import { throttleProblem, tokenBucket, type ThrottleOptions } from './throttle.js';

/**
 * Close codes and reasons, each as API Gateway uses it.
 *
 * - IDLE, MAX_DURATION: 1001 "Going away". A captured AWS `$disconnect` event of a socket left
 *   idle for ten minutes carries `disconnectStatusCode: 1001, disconnectReason: "Going away"`
 *   (connectedAt 1708326702789, requestTimeEpoch 1708327306706: 10 min 4 s later). The 2-hour
 *   limit is the same kind of server-side "going away"; no capture of it was found, so it is
 *   assumed to close alike.
 * - DELETED: DeleteConnection closes with 1000; its `$disconnect` says
 *   `disconnectStatusCode: 1000, disconnectReason: "Connection Closed Normally"` (API Gateway
 *   execution logs quoted in boto/boto3#3789 and aws/chalice#2060). DeleteConnection takes no
 *   code or reason (aws/aws-sdk-js#3636), so no handler can close with anything else.
 * - BINARY: 1003, TOO_BIG: 1009, as ../shared/API-GATEWAY.md states. The close frame carries no
 *   reason (ws closes a too-big frame with a bare 1009; 1003 matches it); the `$disconnect`
 *   reason is our own wording, since no AWS capture of either was found. ws's maxPayload bounds
 *   a whole message, so a message fragmented into frames of 32 KB or less but longer in total
 *   is refused here, where AWS would take up to 128 KB: stricter, never laxer.
 * - SHUTDOWN: the gateway itself stopping, also "going away" (RFC 6455, 7.4.1).
 * - A socket the client closes reports the client's own code and reason (1005 when it sent
 *   none, 1006 when the TCP connection dropped), as the captured `1001, ""` of a browser
 *   leaving shows.
 */
export const CLOSE = {
  IDLE: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  MAX_DURATION: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  DELETED: { code: 1000, reason: 'Connection Closed Normally', frameReason: '' },
  BINARY: { code: 1003, reason: 'Binary frames are not supported', frameReason: '' },
  TOO_BIG: { code: 1009, reason: 'Frame too big', frameReason: '' },
  SHUTDOWN: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
} as const;

type CloseCause = (typeof CLOSE)[keyof typeof CLOSE];

/** API Gateway's WebSocket limits (PostToConnection data and message payload: 128 KB). */
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** Lambda's limit for an asynchronous invocation's payload. */
const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;
const TEN_MINUTES = 10 * 60 * 1000;
const TWO_HOURS = 2 * 60 * 60 * 1000;

export interface GatewayOptions {
  /** The port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** The address to listen on. `0.0.0.0` or `::` serve other machines too. @default '127.0.0.1' */
  readonly host?: string;
  /** The API Gateway stage name: WebSockets at `/{stage}`, management API at `/{stage}/@connections`. @default 'local' */
  readonly stage?: string;
  /** The DynamoDB table; created when missing. @default `cevitxe-signal-{stage}` */
  readonly tableName?: string;
  /** A DynamoDB API endpoint (DynamoDB Local). @default dynalite, in process and in memory */
  readonly dynamoDbEndpoint?: string;
  /** Close a socket after this long without a frame either way (pings do not count). @default 10 min */
  readonly idleTimeoutMs?: number;
  /** Close a socket this long after it connected, whatever it does. @default 2 h */
  readonly maxConnectionMs?: number;
  /** @default 'info' */
  readonly logLevel?: Level;
  /** Where log lines go. @default readable lines on stdout and stderr */
  readonly logSink?: Sink;
  /** The protocol's limits, over the defaults. @default DEFAULT_LIMITS */
  readonly limits?: Partial<Limits>;
  /** Optional Origin allowlist and shared token at $connect, as a stage may configure. @default none */
  readonly access?: AccessPolicy;
  /** Never deliver `$disconnect` (AWS delivers it best effort only): for tests. @default false */
  readonly dropDisconnects?: boolean;
  /** Wraps the handlers, e.g. to observe, delay or break them in tests. @default none */
  readonly wrapHandlers?: (handlers: Handlers) => Handlers;
  /** How long close() waits for handlers still running before it stops anyway. @default 10 s */
  readonly closeTimeoutMs?: number;
  /** Called with each AWS SDK client the handlers make, e.g. to count calls (npm run bench). @default none */
  readonly instrumentClient?: ClientOverrides['instrument'];
  /**
   * Delay each message invocation by a random 0 to this many ms: Lambda's scheduling spread,
   * which one event loop lacks, so that frames sent back to back may be handled out of order.
   * @default 0
   */
  readonly invocationJitterMs?: number;
  /**
   * The stage's throttle: a token bucket over messages and handshakes. A throttled message
   * never reaches the handler and its sender gets API Gateway's `Too Many Requests` frame; a
   * throttled handshake is refused with 429. @default none (unthrottled)
   */
  readonly throttle?: ThrottleOptions;
}

export interface Gateway {
  /** Where it listens, e.g. `http://127.0.0.1:8080`: the fish page, and the path form as ws://. */
  readonly url: string;
  readonly port: number;
  readonly stage: string;
  /** The management API's endpoint (`stage.callbackUrl` on AWS): `{url}/{stage}`. */
  readonly managementEndpoint: string;
  /** The deliver function's name, as the Invoke API knows it. */
  readonly deliverFunctionName: string;
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  /** A WebSocket URL on this gateway: `ws://…{path}`. @default path `/{stage}` */
  wsUrl(path?: string): string;
  /** Resolves once no handler runs: every $connect, message, $disconnect and invocation done. */
  settled(): Promise<void>;
  /** Closes every socket (1001), waits for the handlers, stops listening and DynamoDB. */
  close(): Promise<void>;
}

interface Connection {
  readonly facts: ConnectionFacts;
  state: 'connecting' | 'open' | 'closed';
  socket?: WebSocket;
  lastActiveAt: number;
  /** Why the gateway is closing it, once it is. */
  closing?: CloseCause;
  timers: NodeJS.Timeout[];
  closed: Promise<void>;
  markClosed: () => void;
}

type Headers = Record<string, string>;

const json = (value: unknown) => JSON.stringify(value);

/** The address other parts of this process use to reach a server listening on `address`. */
function loopback(address: AddressInfo): string {
  if (address.address === '0.0.0.0' || address.address === '::') return '127.0.0.1';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

const isTwoHundred = (status: number) => status >= 200 && status < 300;

/** Node's view of the handshake, checked as ws checks it, before `$connect` runs. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'Invalid HTTP method';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  const key = req.headers['sec-websocket-key'];
  if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'Missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Missing or invalid Sec-WebSocket-Version';
  return undefined;
}

/** Writes a complete HTTP response on a socket that asked for an upgrade, then closes it. */
function answerUpgrade(socket: Duplex, status: number, headers: Headers, body: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const payload = Buffer.from(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    `Content-Length: ${payload.length}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), payload]), () =>
    socket.destroy(),
  );
}

function edgeHeaders(response: CloudFrontResponse): Headers {
  return Object.fromEntries(
    Object.entries(response.headers).map(([name, { value }]) => [name, value]),
  );
}

function edgeBody(response: CloudFrontResponse): string | Buffer {
  if (!response.body) return '';
  return response.body.encoding === 'base64'
    ? Buffer.from(response.body.data, 'base64')
    : response.body.data;
}

/** Reads a request body, remembering whether it went past `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { body: Buffer.concat(chunks), tooLarge: size > limit };
}

/** Answers as an AWS API does: status, `x-amzn-ErrorType` for errors, JSON or empty body. */
function answer(
  res: ServerResponse,
  status: number,
  body: string | Buffer = '',
  headers: Headers = {},
): void {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'x-amzn-RequestId': newAwsId(),
    ...(payload.length ? { 'Content-Type': 'application/json' } : {}),
    'Content-Length': String(payload.length),
    ...headers,
  });
  res.end(payload);
}

const awsError = (res: ServerResponse, status: number, type: string, message?: string) =>
  answer(res, status, message === undefined ? '' : json({ message }), {
    'x-amzn-ErrorType': type,
  });

/**
 * API Gateway's frame for a message it throttled. AWS documents only "429 Too Many Requests"
 * (websocket-api-protect.html), not the frame's bytes: this is the captured internal-error frame
 * (spacing included) with that message, which is how API Gateway words its other error frames.
 */
export function tooManyRequestsFrame(connectionId: string, requestId: string): string {
  return `{"message": "Too Many Requests", "connectionId":${json(connectionId)}, "requestId":${json(requestId)}}`;
}

function optionsProblem(options: GatewayOptions): string | undefined {
  const jitter = options.invocationJitterMs;
  if (jitter !== undefined && (!Number.isFinite(jitter) || jitter < 0))
    return `invocationJitterMs must be a number of ms, 0 or more, not ${jitter}`;
  return options.throttle && throttleProblem(options.throttle);
}

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const problem = optionsProblem(options);
  if (problem) throw new RangeError(problem);
  const stage = options.stage ?? 'local';
  const stagePath = `/${stage}`;
  const tableName = options.tableName ?? `cevitxe-signal-${stage}`;
  const idleTimeoutMs = options.idleTimeoutMs ?? TEN_MINUTES;
  const maxConnectionMs = options.maxConnectionMs ?? TWO_HOURS;
  const logLevel = options.logLevel ?? 'info';
  const baseLog: Logger = createLogger(logLevel, options.logSink ?? readableSink());
  const log = baseLog.with({ route: 'gateway' });
  const deliverFunctionName = `cevitxe-signal-${stage}-deliver`;
  const apiId = newApiId();
  const edge: Rewrite = loadRewrite(stage, { log: (line) => log.debug('edge', { line }) });
  const jitterMs = options.invocationJitterMs ?? 0;
  // One bucket for the stage: every socket's messages and every handshake draw from it.
  const bucket = options.throttle && tokenBucket(options.throttle);

  // DynamoDB first: nothing listens until the table is there.
  let dynalite: LocalDynamo | undefined;
  let dynamoDbEndpoint = options.dynamoDbEndpoint;
  if (!dynamoDbEndpoint) {
    dynalite = await startDynalite();
    dynamoDbEndpoint = dynalite.endpoint;
  }
  try {
    await ensureTable(dynamoDbEndpoint, tableName);
  } catch (error) {
    await dynalite?.close();
    throw error;
  }

  const connections = new Map<string, Connection>();
  const running = new Set<Promise<void>>();
  let handlers: Handlers | undefined;
  let stopping = false;

  /** Runs background work: tracked so that settled() and close() wait for it; errors logged. */
  function track(what: string, work: Promise<unknown>): void {
    const done: Promise<void> = work.then(
      () => undefined,
      (error: unknown) => log.error(`${what} failed`, { error }),
    );
    running.add(done);
    void done.finally(() => running.delete(done));
  }

  async function settled(): Promise<void> {
    while (running.size > 0) await Promise.allSettled([...running]);
  }

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    // API Gateway answers a subprotocol only when $connect returns one; these handlers never do.
    handleProtocols: () => false,
  });

  // ---- WebSocket connections -----------------------------------------------------------------

  function touch(connection: Connection): void {
    connection.lastActiveAt = Date.now();
    connection.timers[0]?.refresh();
  }

  function closeWith(connection: Connection, cause: CloseCause): void {
    if (connection.state !== 'open' || connection.closing) return;
    connection.closing = cause;
    connection.socket?.close(cause.code, cause.frameReason);
  }

  function open(connection: Connection, socket: WebSocket): void {
    connection.state = 'open';
    connection.socket = socket;
    connection.lastActiveAt = Date.now();
    const { connectionId } = connection.facts;
    connection.timers.push(
      setTimeout(() => closeWith(connection, CLOSE.IDLE), idleTimeoutMs),
      setTimeout(() => closeWith(connection, CLOSE.MAX_DURATION), maxConnectionMs),
    );
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (connection.closing) return;
      if (isBinary) {
        closeWith(connection, CLOSE.BINARY);
        return;
      }
      touch(connection);
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      log.debug('frame received', { connectionId, bytes: bytes.length });
      const event = messageEvent(connection.facts, bytes.toString(), Date.now());
      if (bucket && !bucket.take()) {
        // Dropped before any integration runs; only the sender hears of it.
        log.debug('message throttled', { connectionId });
        socket.send(tooManyRequestsFrame(connectionId, event.requestContext.requestId));
        return;
      }
      // Not awaited: API Gateway may run a socket's invocations concurrently, so do we.
      track('$default', jitterMs > 0 ? jittered(connection, event) : onMessage(connection, event));
    });
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') connection.closing ??= CLOSE.TOO_BIG;
      else log.debug('socket error', { connectionId, error });
    });
    socket.on('close', (code: number, reason: Buffer) => onClosed(connection, code, reason));
  }

  /** Starts the invocation 0 to jitterMs late, as Lambda's scheduling may. */
  async function jittered(connection: Connection, event: MessageEvent): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * jitterMs));
    await onMessage(connection, event);
  }

  async function onMessage(connection: Connection, event: MessageEvent): Promise<void> {
    try {
      await handlers!.message(event);
    } catch (error) {
      // What API Gateway sends when the integration fails; the socket stays open.
      const { connectionId, requestId } = event.requestContext;
      log.warn('integration failed: internal server error frame sent', { connectionId, error });
      if (connection.state === 'open' && connection.socket)
        connection.socket.send(
          `{"message": "Internal server error", "connectionId":${json(connectionId)}, "requestId":${json(requestId)}}`,
        );
    }
  }

  function onClosed(connection: Connection, clientCode: number, clientReason: Buffer): void {
    for (const timer of connection.timers) clearTimeout(timer);
    connection.state = 'closed';
    connections.delete(connection.facts.connectionId);
    connection.markClosed();
    const { code, reason } = connection.closing ?? {
      code: clientCode,
      reason: clientReason.toString(),
    };
    const fields = { connectionId: connection.facts.connectionId, code, reason };
    if (connection.closing && connection.closing !== CLOSE.DELETED)
      log.info('socket closed by the gateway', fields);
    else log.debug('socket closed', fields);
    disconnect(connection, code, reason);
  }

  function disconnect(connection: Connection, code: number, reason: string): void {
    if (options.dropDisconnects) return;
    track(
      '$disconnect',
      handlers!.disconnect(disconnectEvent(connection.facts, code, reason, Date.now())),
    );
  }

  function splitUrl(url: string): { path: string; query: string } {
    const mark = url.indexOf('?');
    return mark < 0
      ? { path: url, query: '' }
      : { path: url.slice(0, mark), query: url.slice(mark + 1) };
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    if (stopping) return answerUpgrade(socket, 503, {}, '');
    let { path, query } = splitUrl(req.url ?? '/');
    if (path !== stagePath) {
      // Not API Gateway's own URL: through the edge front door, as behind CloudFront.
      const result = runEdge(req);
      if (!result) return answerUpgrade(socket, 503, {}, '');
      if (isResponse(result)) {
        log.info('handshake refused by the edge rewrite', {
          status: result.statusCode,
          reason: result.body?.data.trim(),
        });
        const body = edgeBody(result);
        return answerUpgrade(socket, result.statusCode, edgeHeaders(result), body.toString());
      }
      path = result.uri;
      query = serializeQuerystring(result.querystring);
    }
    if (path !== stagePath) {
      log.info('handshake refused: not the stage URL', { status: 403 });
      return answerUpgrade(
        socket,
        403,
        { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'ForbiddenException' },
        json({ message: 'Forbidden' }),
      );
    }
    const problem = handshakeProblem(req);
    if (problem) return answerUpgrade(socket, 400, { 'Content-Type': 'text/plain' }, problem);
    if (bucket && !bucket.take()) {
      log.info('handshake throttled', { status: 429 });
      return answerUpgrade(
        socket,
        429,
        { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'TooManyRequestsException' },
        json({ message: 'Too Many Requests' }),
      );
    }

    const address = req.socket.address() as AddressInfo;
    const host = req.headers.host ?? `localhost:${address.port}`;
    const facts: ConnectionFacts = {
      connectionId: newAwsId(),
      connectedAt: Date.now(),
      stage,
      apiId,
      domainName: host.replace(/:\d+$/, ''),
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      ...(req.headers['user-agent'] === undefined ? {} : { userAgent: req.headers['user-agent'] }),
    };
    let markClosed = () => undefined as void;
    const connection: Connection = {
      facts,
      state: 'connecting',
      lastActiveAt: facts.connectedAt,
      timers: [],
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      markClosed: () => markClosed(),
    };
    connections.set(facts.connectionId, connection);
    let clientLeft = false;
    socket.once('close', () => (clientLeft = true));

    let result: HandlerResult;
    try {
      result = await handlers!.connect(
        connectEvent(facts, req.rawHeaders, query, { port: address.port, proto: 'http' }),
      );
    } catch (error) {
      connections.delete(facts.connectionId);
      connection.state = 'closed';
      connection.markClosed();
      log.warn('$connect failed: handshake refused with 500', {
        connectionId: facts.connectionId,
        error,
      });
      return answerUpgrade(
        socket,
        500,
        { 'Content-Type': 'application/json' },
        json({ message: 'Internal server error' }),
      );
    }
    if (!isTwoHundred(result.statusCode)) {
      connections.delete(facts.connectionId);
      connection.state = 'closed';
      connection.markClosed();
      return answerUpgrade(
        socket,
        result.statusCode,
        { 'Content-Type': 'text/plain; charset=utf-8' },
        result.body ?? '',
      );
    }
    if (clientLeft || stopping || !socket.readable || !socket.writable) {
      // Accepted by $connect but gone (or shutting down) before the handshake completed.
      if (!clientLeft) answerUpgrade(socket, 503, {}, '');
      connections.delete(facts.connectionId);
      connection.state = 'closed';
      connection.markClosed();
      disconnect(connection, clientLeft ? 1006 : CLOSE.SHUTDOWN.code, '');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => open(connection, ws));
  }

  function runEdge(req: IncomingMessage) {
    try {
      return edge(
        viewerRequestEvent({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          ip: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
        }),
      );
    } catch (error) {
      // CloudFront answers 503 when its function fails.
      log.error('edge rewrite failed', { error });
      return undefined;
    }
  }

  // ---- HTTP: the management API, Lambda's Invoke, and the edge for everything else ----------

  async function onManagement(
    req: IncomingMessage,
    res: ServerResponse,
    segments: string[],
  ): Promise<void> {
    const { body, tooLarge } = await readBody(req, MAX_MESSAGE_BYTES);
    let connectionId: string | undefined;
    try {
      connectionId = segments.length === 4 ? decodeURIComponent(segments[3]!) : undefined;
    } catch {
      connectionId = undefined;
    }
    if (segments[1] !== stage || !connectionId)
      return awsError(res, 403, 'ForbiddenException', 'Forbidden');
    const method = req.method ?? 'GET';
    if (!['POST', 'GET', 'DELETE'].includes(method))
      return awsError(res, 403, 'ForbiddenException', 'Forbidden');
    if (method === 'POST' && tooLarge)
      return awsError(res, 413, 'PayloadTooLargeException', 'Request entity too large');
    const connection = connections.get(connectionId);
    // Unknown, closing or closed, or still inside its $connect: API Gateway answers 410.
    if (
      !connection ||
      connection.state !== 'open' ||
      connection.socket?.readyState !== WebSocket.OPEN
    ) {
      log.debug('management API: gone', { connectionId, method, state: connection?.state });
      return awsError(res, 410, 'GoneException');
    }
    if (method === 'POST') {
      touch(connection);
      connection.socket.send(body, { binary: false });
      log.debug('frame sent', { connectionId, bytes: body.length });
      return answer(res, 200);
    }
    if (method === 'GET') {
      const { connectedAt, sourceIp, userAgent } = connection.facts;
      return answer(
        res,
        200,
        json({
          connectedAt: new Date(connectedAt).toISOString(),
          identity: { sourceIp, userAgent: userAgent ?? '' },
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
        }),
      );
    }
    closeWith(connection, CLOSE.DELETED);
    return answer(res, 204);
  }

  async function onInvoke(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const limit = type === 'Event' ? MAX_EVENT_PAYLOAD_BYTES : 6 * 1024 * 1024;
    const { body, tooLarge } = await readBody(req, limit);
    const lambdaError = (status: number, errorType: string, message: string) =>
      answer(res, status, json({ Type: 'User', message }), { 'x-amzn-ErrorType': errorType });
    if (req.method !== 'POST')
      return lambdaError(405, 'UnsupportedMediaTypeException', 'Invoke is a POST');
    const known = name === deliverFunctionName || name.endsWith(`:function:${deliverFunctionName}`);
    if (!known) return lambdaError(404, 'ResourceNotFoundException', `Function not found: ${name}`);
    if (tooLarge)
      return lambdaError(413, 'RequestTooLargeException', 'Request must be smaller than the limit');
    let payload: unknown;
    try {
      payload = body.length === 0 ? {} : (JSON.parse(body.toString()) as unknown);
    } catch {
      return lambdaError(400, 'InvalidRequestContentException', 'Could not parse request body');
    }
    if (type === 'DryRun') return answer(res, 204);
    if (type === 'Event') {
      // Accepted now, run later: close() and settled() wait for it; its errors are logged.
      track('deliver', handlers!.deliver(payload));
      return answer(res, 202);
    }
    if (type !== 'RequestResponse')
      return lambdaError(400, 'InvalidParameterValueException', `Bad invocation type ${type}`);
    try {
      await handlers!.deliver(payload);
      return answer(res, 200, 'null', { 'X-Amz-Executed-Version': '$LATEST' });
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      return answer(res, 200, json({ errorType: err.name, errorMessage: err.message }), {
        'X-Amz-Executed-Version': '$LATEST',
        'X-Amz-Function-Error': 'Unhandled',
      });
    }
  }

  function onEdgeRequest(req: IncomingMessage, res: ServerResponse): void {
    const result = runEdge(req);
    if (!result) return void res.writeHead(503).end();
    if (isResponse(result)) {
      const body = edgeBody(result);
      res.writeHead(result.statusCode, {
        ...edgeHeaders(result),
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // Forwarded to the stage without an upgrade: API Gateway wants a WebSocket there.
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' });
    res.end('Upgrade Required\n');
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path } = splitUrl(req.url ?? '/');
    const segments = path.split('/');
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (invoke) return onInvoke(req, res, decodeURIComponent(invoke[1]!));
    let second = '';
    try {
      second = decodeURIComponent(segments[2] ?? '');
    } catch {
      // not the management API
    }
    if (second === '@connections') return onManagement(req, res, segments);
    onEdgeRequest(req, res);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      log.error('request failed', { error });
      if (!res.headersSent) answer(res, 500, json({ message: 'Internal server error' }));
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    track('$connect', onUpgrade(req, socket, head)),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await dynalite?.close();
    throw error;
  });
  const address = server.address() as AddressInfo;
  const port = address.port;
  const internal = `http://${loopback(address)}:${port}`;
  const shownHost =
    address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : loopback(address);
  const url = `http://${shownHost}:${port}`;
  const managementEndpoint = `${internal}${stagePath}`;

  handlers = createHandlers(
    createServices(
      {
        tableName,
        managementEndpoint,
        deliverFunctionName,
        limits: { ...DEFAULT_LIMITS, ...options.limits },
        logLevel,
        stage,
        ...(options.access ? { access: options.access } : {}),
      },
      {
        ...LOCAL_AWS,
        dynamoDbEndpoint,
        dynamoDbUsesDefaultCredentials: !isLocalEndpoint(dynamoDbEndpoint),
        lambdaEndpoint: internal,
        ...(options.instrumentClient ? { instrument: options.instrumentClient } : {}),
      },
    ),
    { log: baseLog, stage },
  );
  if (options.wrapHandlers) handlers = options.wrapHandlers(handlers);

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    stopping = true;
    for (const connection of connections.values()) closeWith(connection, CLOSE.SHUTDOWN);
    const timeoutMs = options.closeTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const done = async () => {
      // Sockets first (their $disconnect is work too), then every handler still running.
      while (connections.size > 0)
        await Promise.all([...connections.values()].map((connection) => connection.closed));
      await settled();
    };
    if ((await Promise.race([done(), timeout])) === 'timeout') {
      log.warn('closing with handlers still running', { running: running.size });
      for (const connection of connections.values()) connection.socket?.terminate();
    }
    clearTimeout(timer);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await dynalite?.close();
  }

  return {
    url,
    port,
    stage,
    managementEndpoint,
    deliverFunctionName,
    tableName,
    dynamoDbEndpoint,
    wsUrl: (path = stagePath) => `ws://${url.slice('http://'.length)}${path}`,
    settled,
    close: () => (closing ??= close()),
  };
}

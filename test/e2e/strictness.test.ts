/**
 * The local gateway refuses what API Gateway refuses: one test per strictness rule (each a row
 * of docs/local-vs-aws.md). The management API and Lambda's Invoke are
 * exercised with the real AWS SDK clients, as the handlers use them.
 */
import { randomUUID } from 'node:crypto';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HandlerResult, WebSocketEvent } from '../../lambda/core/handlers.js';
import { LOCAL_AWS } from '../../local/dynamodb.js';
import { MAX_MESSAGE_BYTES } from '../../local/gateway/index.js';
import { TestSocket, refusal } from '../../testing/socket.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';

type Handler = (event: WebSocketEvent) => Promise<HandlerResult>;
/** Per-test replacements of a handler; `next` is the real one. */
interface Hooks {
  connect?: (event: WebSocketEvent, next: Handler) => Promise<HandlerResult>;
  message?: (event: WebSocketEvent, next: Handler) => Promise<HandlerResult>;
}

const ID = /^[A-Za-z0-9+/]{15}=$/;
// Asymmetric matchers, typed as what they stand for in object literals.
const anyString = expect.any(String) as unknown as string;
const anyNumber = expect.any(Number) as unknown as number;
const awsId = expect.stringMatching(ID) as unknown as string;
const apiId = expect.stringMatching(/^[a-z0-9]{10}$/) as unknown as string;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, for gates and signals between a test and a handler. */
function signal<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each(backends())('API Gateway strictness on $name', (backend) => {
  let gateway: TestGateway;
  let hooks: Hooks = {};
  let sockets: TestSocket[] = [];
  let management: ApiGatewayManagementApiClient;
  let name: (label: string) => string;

  beforeAll(async () => {
    gateway = await startTestGateway(backend, {
      wrapHandlers: (handlers) => ({
        ...handlers,
        connect: (event) =>
          hooks.connect
            ? hooks.connect(event, (e) => handlers.connect(e))
            : handlers.connect(event),
        message: (event) =>
          hooks.message
            ? hooks.message(event, (e) => handlers.message(e))
            : handlers.message(event),
      }),
    });
    management = new ApiGatewayManagementApiClient({
      ...LOCAL_AWS,
      endpoint: gateway.managementEndpoint,
    });
  });
  afterAll(async () => {
    management.destroy();
    await gateway.close();
  });
  beforeEach(() => {
    const run = randomUUID().slice(0, 8);
    name = (label) => `${label}-${run}`;
  });
  afterEach(async () => {
    hooks = {};
    await Promise.all(sockets.map((socket) => socket.close()));
    sockets = [];
    await gateway.settled();
  });

  const open = async (path: string, options?: WebSocket.ClientOptions, on = gateway) => {
    const socket = await TestSocket.open(on.wsUrl(path), options);
    sockets.push(socket);
    return socket;
  };
  const intro = (id: string) => `/introduction/${encodeURIComponent(id)}`;

  describe('routes', () => {
    it('refuses WebSocket upgrades beyond the stage URL with 403', async () => {
      for (const path of ['/local/extra', '/other', '/local/@connections', '/introductions/a']) {
        const { status } = await refusal(gateway.wsUrl(path));
        expect({ path, status }).toEqual({ path, status: 403 });
      }
      // The stage URL itself is served.
      await open(`/${gateway.stage}?type=introduction&localId=${name('A')}`);
    });

    it('answers plain HTTP with the edge function: the fish page at /, 404 elsewhere', async () => {
      const fish = await fetch(`${gateway.url}/`);
      expect(fish.status).toBe(200);
      expect(fish.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await fish.text()).toContain('🐟');
      for (const path of ['/introduction/a', `/${gateway.stage}`, '/nope']) {
        const response = await fetch(`${gateway.url}${path}`);
        expect({ path, status: response.status }).toEqual({ path, status: 404 });
      }
    });
  });

  describe('$connect', () => {
    it('holds the handshake until $connect returns, and answers 410 for the socket meanwhile', async () => {
      const entered = signal<string>();
      const gate = signal();
      hooks.connect = async (event, next) => {
        entered.resolve(event.requestContext.connectionId);
        await gate.promise;
        return next(event);
      };
      const ws = new WebSocket(gateway.wsUrl(intro(name('A'))));
      const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
      const connectionId = await entered.promise;

      const post = new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'early' });
      const early = await management.send(post).catch((error: unknown) => error);
      expect(early).toBeInstanceOf(GoneException);
      expect(early).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
      await expect(
        management.send(new GetConnectionCommand({ ConnectionId: connectionId })),
      ).rejects.toBeInstanceOf(GoneException);
      expect(ws.readyState).toBe(WebSocket.CONNECTING);

      gate.resolve();
      await opened;
      const received = new Promise<string>((resolve) =>
        ws.once('message', (data: Buffer, isBinary: boolean) =>
          resolve(`${isBinary ? 'binary' : 'text'}:${data.toString()}`),
        ),
      );
      await management.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'now' }),
      );
      expect(await received).toBe('text:now');
      ws.close();
    });

    it('refuses the handshake with a non-2xx statusCode of $connect, accepts any 2xx', async () => {
      for (const statusCode of [401, 403, 429]) {
        hooks.connect = () => Promise.resolve({ statusCode, body: 'refused' });
        const { status } = await refusal(gateway.wsUrl(intro(name('A'))));
        expect(status).toBe(statusCode);
      }
      hooks.connect = async (event, next) => ({ ...(await next(event)), statusCode: 204 });
      await open(intro(name('B')));

      hooks.connect = () => Promise.reject(new Error('integration failure'));
      expect((await refusal(gateway.wsUrl(intro(name('C'))))).status).toBe(500);
    });

    it('answers no subprotocol, since $connect returns none', async () => {
      const ws = new WebSocket(gateway.wsUrl(intro(name('A'))), ['chat']);
      const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
      expect(error.message).toBe('Server sent no subprotocol');
    });
  });

  describe('events', () => {
    it('shapes $connect, message and $disconnect events as AWS does', async () => {
      const A = name('A');
      const socket = await open(`/${gateway.stage}?type=introduction&localId=${A}&extra=a+b`, {
        headers: { 'X-Mixed-Case': 'kept', 'User-Agent': 'strictness-test' },
      });
      const connectionId = gateway.connectionId(socket);
      expect(connectionId).toMatch(ID);

      const connect = (
        await gateway.event('connect', (e) => e.requestContext.connectionId === connectionId)
      ).event;
      expect(connect.headers).toMatchObject({ 'X-Mixed-Case': 'kept', Host: anyString });
      expect(connect.headers).not.toHaveProperty('x-mixed-case');
      expect(connect.multiValueHeaders).toMatchObject({ 'X-Mixed-Case': ['kept'] });
      expect(connect.queryStringParameters).toEqual({
        type: 'introduction',
        localId: A,
        extra: 'a b',
      });
      expect(connect.multiValueQueryStringParameters).toEqual({
        type: ['introduction'],
        localId: [A],
        extra: ['a b'],
      });
      expect(connect.isBase64Encoded).toBe(false);
      expect(connect.requestContext).toMatchObject({
        routeKey: '$connect',
        eventType: 'CONNECT',
        messageDirection: 'IN',
        connectionId,
        connectedAt: anyNumber,
        requestTimeEpoch: anyNumber,
        requestId: awsId,
        extendedRequestId: awsId,
        stage: gateway.stage,
        domainName: '127.0.0.1',
        apiId,
        identity: { sourceIp: '127.0.0.1', userAgent: 'strictness-test' },
      });

      socket.send({ type: 'Join', join: [] });
      const message = (
        await gateway.event('message', (e) => e.requestContext.connectionId === connectionId)
      ).event;
      expect(Object.keys(message).sort()).toEqual(['body', 'isBase64Encoded', 'requestContext']);
      expect(message.body).toBe('{"type":"Join","join":[]}');
      expect(message.requestContext).toMatchObject({
        routeKey: '$default',
        eventType: 'MESSAGE',
        messageId: awsId,
        connectionId,
        requestTimeEpoch: anyNumber,
      });

      await socket.close(4000, 'bye');
      const disconnect = (await gateway.disconnected(socket)).event;
      expect(disconnect).not.toHaveProperty('queryStringParameters');
      expect(disconnect.headers).not.toHaveProperty('X-Mixed-Case');
      expect(disconnect.requestContext).toMatchObject({
        routeKey: '$disconnect',
        eventType: 'DISCONNECT',
        connectionId,
        disconnectStatusCode: 4000,
        disconnectReason: 'bye',
      });
    });

    it('leaves the query out of $connect when there is none', async () => {
      const { status } = await refusal(gateway.wsUrl(`/${gateway.stage}`), {
        headers: { 'X-Probe': name('probe') },
      });
      expect(status).toBe(400);
      const probe = name('probe');
      const connect = gateway.events.find((entry) => entry.event.headers?.['X-Probe'] === probe);
      expect(connect?.event).toBeDefined();
      expect(connect?.event).not.toHaveProperty('queryStringParameters');
      expect(connect?.event).not.toHaveProperty('multiValueQueryStringParameters');
    });
  });

  describe('frames', () => {
    it('closes the connection with 1003 on a binary frame', async () => {
      const socket = await open(intro(name('A')));
      socket.send(Buffer.from('{"type":"Join","join":[]}'), { binary: true });
      expect((await socket.closedBy()).code).toBe(1003);
      const disconnect = await gateway.disconnected(socket);
      expect(disconnect.event.requestContext.disconnectStatusCode).toBe(1003);
      const id = gateway.connectionId(socket);
      expect(
        gateway.events.filter(
          (e) => e.route === 'message' && e.event.requestContext.connectionId === id,
        ),
      ).toEqual([]);
    });

    it('accepts a 32 KB frame and closes the connection with 1009 on a larger one', async () => {
      const socket = await open(intro(name('A')));
      socket.send('x'.repeat(32 * 1024));
      expect(await socket.nextJson()).toEqual({ type: 'Error', error: 'message is not JSON' });
      socket.send('x'.repeat(32 * 1024 + 1));
      expect((await socket.closedBy()).code).toBe(1009);
      const disconnect = await gateway.disconnected(socket);
      expect(disconnect.event.requestContext.disconnectStatusCode).toBe(1009);
    });

    it('hands the messages of one connection to the handler concurrently', async () => {
      const secondStarted = signal();
      const overlap = signal<boolean>();
      hooks.message = async (event) => {
        if (event.body === 'second') secondStarted.resolve();
        if (event.body === 'first') {
          // Serialised invocations would never let 'second' start while 'first' runs.
          const started = await Promise.race([
            secondStarted.promise.then(() => true),
            sleep(3_000).then(() => false),
          ]);
          overlap.resolve(started);
        }
        return { statusCode: 200 };
      };
      const socket = await open(intro(name('A')));
      socket.send('first');
      socket.send('second');
      expect(await overlap.promise).toBe(true);
    });

    it('sends API Gateway’s internal-error frame when a handler throws, and keeps going', async () => {
      hooks.message = (event, next) =>
        event.body === 'boom' ? Promise.reject(new Error('handler bug')) : next(event);
      const socket = await open(intro(name('A')));
      socket.send('boom');
      const frame = await socket.next();
      expect(frame).toMatch(/^\{"message": "Internal server error", "connectionId":"/);
      expect(JSON.parse(frame)).toEqual({
        message: 'Internal server error',
        connectionId: gateway.connectionId(socket),
        requestId: awsId,
      });
      // The socket and the gateway carry on.
      socket.send('not JSON');
      expect(await socket.nextJson()).toEqual({ type: 'Error', error: 'message is not JSON' });
    });
  });

  describe('time limits', () => {
    let timed: TestGateway;
    beforeAll(async () => {
      timed = await startTestGateway(backend, { idleTimeoutMs: 300, maxConnectionMs: 1_500 });
    });
    afterAll(() => timed.close());

    it('closes an idle connection with 1001 "Going away"; pings do not count, frames do', async () => {
      const pinging = await open(intro(name('A')), {}, timed);
      const talking = await open(intro(name('B')), {}, timed);
      const started = Date.now();
      const ticker = setInterval(() => {
        if (pinging.isOpen) pinging.ws.ping();
        if (talking.isOpen && Date.now() - started < 600) talking.send({ type: 'Join', join: [] });
      }, 100);
      try {
        expect(await pinging.closedBy()).toEqual({ code: 1001, reason: 'Going away' });
        expect(Date.now() - started).toBeLessThan(600);
        expect(talking.isOpen).toBe(true);
        expect(await talking.closedBy()).toEqual({ code: 1001, reason: 'Going away' });
        // Idle from its last frame (~500 ms), well before the maximum duration (1.5 s).
        expect(Date.now() - started).toBeGreaterThanOrEqual(600 + 300 - 100);
        expect(Date.now() - started).toBeLessThan(1_500);
      } finally {
        clearInterval(ticker);
      }
      const disconnect = await timed.disconnected(pinging);
      expect(disconnect.event.requestContext).toMatchObject({
        disconnectStatusCode: 1001,
        disconnectReason: 'Going away',
      });
    });

    it('closes any connection after the maximum duration with 1001 "Going away"', async () => {
      const socket = await open(intro(name('A')), {}, timed);
      const started = Date.now();
      const ticker = setInterval(
        () => socket.isOpen && socket.send({ type: 'Join', join: [] }),
        100,
      );
      try {
        expect(await socket.closedBy(5_000)).toEqual({ code: 1001, reason: 'Going away' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_500 - 50);
      } finally {
        clearInterval(ticker);
      }
    });
  });

  describe('management API (real AWS SDK client)', () => {
    it('DeleteConnection closes the socket and fires $disconnect', async () => {
      const socket = await open(intro(name('A')));
      const ConnectionId = gateway.connectionId(socket);
      const deleted = await management.send(new DeleteConnectionCommand({ ConnectionId }));
      expect(deleted.$metadata.httpStatusCode).toBe(204);
      expect((await socket.closedBy()).code).toBe(1000);
      const disconnect = await gateway.disconnected(socket);
      expect(disconnect.event.requestContext).toMatchObject({
        disconnectStatusCode: 1000,
        disconnectReason: 'Connection Closed Normally',
      });
      await expect(
        management.send(new GetConnectionCommand({ ConnectionId })),
      ).rejects.toBeInstanceOf(GoneException);
    });

    it('answers GetConnection and PostToConnection as AWS does', async () => {
      const before = Date.now();
      const socket = await open(intro(name('A')), { headers: { 'User-Agent': 'strictness-test' } });
      const ConnectionId = gateway.connectionId(socket);
      const info = await management.send(new GetConnectionCommand({ ConnectionId }));
      // On the wire: {connectedAt, identity: {sourceIp, userAgent}, lastActiveAt}, ISO dates.
      expect(info.ConnectedAt).toBeInstanceOf(Date);
      expect(info.ConnectedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt!.getTime());
      expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'strictness-test' });

      const posted = await management.send(
        new PostToConnectionCommand({ ConnectionId, Data: Buffer.from('héllo') }),
      );
      expect(posted.$metadata.httpStatusCode).toBe(200);
      expect(await socket.next()).toBe('héllo');

      // The largest payload AWS takes passes; one byte more is 413.
      await management.send(
        new PostToConnectionCommand({ ConnectionId, Data: Buffer.alloc(MAX_MESSAGE_BYTES, 'y') }),
      );
      expect((await socket.next()).length).toBe(MAX_MESSAGE_BYTES);
      const tooLarge = await management
        .send(
          new PostToConnectionCommand({ ConnectionId, Data: Buffer.alloc(MAX_MESSAGE_BYTES + 1) }),
        )
        .catch((error: unknown) => error);
      expect(tooLarge).toBeInstanceOf(PayloadTooLargeException);
      expect(tooLarge).toMatchObject({ $metadata: { httpStatusCode: 413 } });
    });

    it('answers 410 GoneException for unknown ids, with the x-amzn-ErrorType header', async () => {
      const ConnectionId = 'AAAAAAAAAAAAAAA=';
      for (const command of [
        new PostToConnectionCommand({ ConnectionId, Data: 'x' }),
        new GetConnectionCommand({ ConnectionId }),
        new DeleteConnectionCommand({ ConnectionId }),
      ]) {
        const error = await management
          .send(command as PostToConnectionCommand)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(GoneException);
        expect(error).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
      }
      const raw = await fetch(
        `${gateway.managementEndpoint}/@connections/${encodeURIComponent(ConnectionId)}`,
      );
      expect(raw.status).toBe(410);
      expect(raw.headers.get('x-amzn-errortype')).toBe('GoneException');
    });

    it('takes @ literally or as %40, and the connection id URL-encoded', async () => {
      const socket = await open(intro(name('A')));
      const id = gateway.connectionId(socket);
      for (const at of ['@', '%40']) {
        const response = await fetch(
          `${gateway.managementEndpoint}/${at}connections/${encodeURIComponent(id)}`,
          { method: 'POST', body: `via ${at}` },
        );
        expect(response.status).toBe(200);
        expect(await socket.next()).toBe(`via ${at}`);
      }
      const otherStage = await fetch(
        `${gateway.url}/elsewhere/@connections/${encodeURIComponent(id)}`,
        {
          method: 'POST',
          body: 'x',
        },
      );
      expect(otherStage.status).toBe(403);
      expect(otherStage.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
    });
  });

  describe('$disconnect and Lambda', () => {
    it('can drop every $disconnect, as AWS may, for tests', async () => {
      const dropping = await startTestGateway(backend, { dropDisconnects: true });
      try {
        const socket = await TestSocket.open(dropping.wsUrl(intro(name('A'))));
        await socket.close();
        await dropping.settled();
        expect(dropping.events.map((entry) => entry.route)).toEqual(['connect']);
      } finally {
        await dropping.close();
      }
    });

    it('serves Lambda’s Invoke for the deliver function only (real AWS SDK client)', async () => {
      const lambda = new LambdaClient({ ...LOCAL_AWS, endpoint: gateway.url });
      try {
        const accepted = await lambda.send(
          new InvokeCommand({
            FunctionName: gateway.deliverFunctionName,
            InvocationType: 'Event',
            Payload: Buffer.from(JSON.stringify({ from: 'x', to: 'y', pairedAt: Date.now() })),
          }),
        );
        expect(accepted.StatusCode).toBe(202);
        await expect(
          lambda.send(
            new InvokeCommand({ FunctionName: 'no-such-function', InvocationType: 'Event' }),
          ),
        ).rejects.toBeInstanceOf(ResourceNotFoundException);
      } finally {
        lambda.destroy();
      }
    });
  });
});

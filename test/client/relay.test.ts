/**
 * SignalSocket through the local gateway, with real `ws` underneath, under Lambda's invocation
 * jitter (frames reach the handler out of order) and a stage throttle that bursts exceed: the
 * pipe comes out whole (any size, binary, order, exactly once), survives idle and
 * maximum-duration cuts without the app seeing a close, and ends only when an app closes or the
 * peer stays away longer than resumeWithinMs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_CODES, signalSocket, type WebSocketConstructor } from '../../client/index.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import {
  Endpoint,
  bytes,
  mixedText,
  openPair,
  pairUrls,
  Ws,
  type Received,
} from '../support/signal-sockets.js';

const JITTER_MS = 5;
/** Enough for the handshakes and small messages of a test; a multi-megabyte stream exceeds it. */
const THROTTLE = { rate: 300, burst: 8 };

const text = (received: Received[]) => received.filter((m): m is string => typeof m === 'string');

/** Sockets the gateway closed itself (idle timeout or maximum duration: 1001). */
const platformCuts = (gateway: TestGateway) =>
  gateway.events.filter(
    (entry) =>
      entry.route === 'disconnect' && entry.event.requestContext.disconnectStatusCode === 1001,
  ).length;

describe('SignalSocket through the local gateway, at the largest size tested', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(backends()[0]!, {
      invocationJitterMs: JITTER_MS,
      throttle: THROTTLE,
    });
  });
  afterAll(() => gateway.close());

  it('carries a 10 MB binary message', async () => {
    const [a, b] = await openPair(gateway.wsUrl(''));
    const message = bytes(10 * 1024 * 1024, 5);
    a.socket.send(message);
    const [received] = await b.until(1, 60_000);
    // Compared as bytes at once: a deep equality of ten million elements takes minutes.
    expect(received).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(received as Uint8Array, message)).toBe(0);
    a.socket.close();
    await b.closed;
  }, 90_000);
});

describe.each(backends())('SignalSocket through the local gateway on $name', (backend) => {
  describe('under jitter and a throttle', () => {
    let gateway: TestGateway;
    let base: string;
    beforeAll(async () => {
      gateway = await startTestGateway(backend, {
        invocationJitterMs: JITTER_MS,
        throttle: THROTTLE,
      });
      base = gateway.wsUrl('');
    });
    afterAll(() => gateway.close());

    it('carries text, binary and large messages both ways, in order, exactly once', async () => {
      const [a, b] = await openPair(base);
      const big = mixedText(300_000, 1);
      const sentByA: (string | Uint8Array)[] = [];
      for (let i = 0; i < 500; i++) sentByA.push(`a${i}`);
      sentByA.push(big, bytes(70_000, 2), bytes(0), '');
      for (const m of sentByA) a.socket.send(m);
      const sentByB = Array.from({ length: 300 }, (_, i) => (i % 3 ? `b${i} ✓` : bytes(i, i)));
      for (const m of sentByB) b.socket.send(m);

      expect(await b.until(sentByA.length)).toEqual(sentByA);
      expect(await a.until(sentByB.length)).toEqual(sentByB);
      // Nothing more came: no duplicates, no transport frames leaking through.
      a.socket.send('last');
      expect((await b.until(sentByA.length + 1)).at(-1)).toBe('last');
      expect(b.received).toHaveLength(sentByA.length + 1);
      a.socket.close();
      await Promise.all([a.closed, b.closed]);
    });

    it('ends the stream on both sides after everything sent before a deliberate close', async () => {
      const [a, b] = await openPair(base);
      for (let i = 0; i < 50; i++) a.socket.send(`before close ${i}`);
      a.socket.close(4001, 'finished');
      expect(a.socket.readyState).toBe(a.socket.CLOSING);
      const closed = await b.closedWithin();
      expect(closed).toEqual({ code: 4001, reason: 'finished', wasClean: true });
      expect(b.received).toEqual(Array.from({ length: 50 }, (_, i) => `before close ${i}`));
      expect(await a.closedWithin()).toEqual({ code: 4001, reason: 'finished', wasClean: true });
      expect(b.socket.readyState).toBe(WebSocket.CLOSED);
      // Never mistaken for a cut: no side reconnected after the close.
      await gateway.settled();
      const key = new URL(b.socket.url).pathname.split('/').at(-1)!;
      const connects = gateway.events.filter(
        (entry) => entry.route === 'connect' && entry.event.queryStringParameters?.key === key,
      );
      expect(connects).toHaveLength(2);
    });

    it('closes with 4408 when the peer vanishes and does not resume within the bound', async () => {
      let vanished = false;
      const sockets: WebSocket[] = [];
      // A peer whose network goes away for good: its socket dies, its reconnects find no server.
      class Vanishing extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(vanished ? 'ws://127.0.0.1:9/' : url, protocols);
          sockets.push(this);
        }
      }
      const resumeWithinMs = 1_500;
      const Steady = signalSocket({ WebSocket: Ws, resumeWithinMs });
      const Fragile = signalSocket({
        WebSocket: Vanishing as unknown as WebSocketConstructor,
        resumeWithinMs,
      });
      const [urlA, urlB] = pairUrls(base);
      const a = new Endpoint(new Steady(urlA));
      const b = new Endpoint(new Fragile(urlB));
      const errors = [0, 0];
      a.socket.addEventListener('error', () => errors[0]!++);
      b.socket.addEventListener('error', () => errors[1]!++);
      a.socket.addEventListener('open', () => a.socket.send('hello'));
      await b.until(1);
      vanished = true;
      sockets.at(-1)!.terminate();
      const [closedA, closedB] = await Promise.all([a.closedWithin(), b.closedWithin()]);
      for (const closed of [closedA, closedB])
        expect(closed).toEqual({
          code: CLOSE_CODES.RESUME_TIMEOUT,
          reason: `the relay did not resume within ${resumeWithinMs} ms`,
          wasClean: false,
        });
      // An error event precedes the transport's own unclean close, as a WebSocket's does.
      expect(errors).toEqual([1, 1]);
    });

    it('keeps transport and plain sockets apart: the server refuses to pair them', async () => {
      const [urlA, urlB] = pairUrls(base);
      const a = new Endpoint(new (signalSocket({ WebSocket: Ws }))(urlA));
      await a.opened;
      await gateway.settled();
      // A plain client for the other end: refused, and the waiting transport socket is told why.
      const plain = new WebSocket(urlB);
      const status = await new Promise<number>((resolve) => {
        plain.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        plain.once('open', () => resolve(101));
        plain.on('error', () => undefined);
      });
      expect(status).toBe(409);
      const closed = await a.closedWithin();
      expect(closed.code).toBe(CLOSE_CODES.MISMATCH);
      expect(closed.reason).toMatch(/SignalSocket transport/);
      expect(a.received).toEqual([]);
    });

    it('reports a transport socket refused beside a waiting plain one as a failed handshake', async () => {
      const [urlA, urlB] = pairUrls(base);
      const plain = new WebSocket(urlA);
      const plainClosed = new Promise<number>((resolve) => plain.once('close', resolve));
      const plainGot: string[] = [];
      plain.on('message', (data: Buffer) => plainGot.push(data.toString()));
      await new Promise((resolve) => plain.once('open', resolve));
      await gateway.settled();
      const a = new Endpoint(new (signalSocket({ WebSocket: Ws }))(urlB));
      let errors = 0;
      a.socket.addEventListener('error', () => errors++);
      // As a WebSocket reports a refused handshake (browsers hide the 409): error, then 1006.
      expect(await a.closedWithin()).toEqual({ code: 1006, reason: '', wasClean: false });
      expect(errors).toBe(1);
      // The waiting plain socket is closed, and never got a transport frame.
      await plainClosed;
      expect(plainGot).toEqual([]);
    });

    it('passes introduction sockets through and keeps them alive with a frame the server ignores', async () => {
      const Socket = signalSocket({ WebSocket: Ws, keepAliveMs: 100 });
      const run = randomUUID().slice(0, 8);
      const a = new Endpoint(new Socket(`${base}/introduction/a-${run}`));
      const b = new Endpoint(new Socket(`${base}/introduction/b-${run}`));
      await Promise.all([a.opened, b.opened]);
      a.socket.send(JSON.stringify({ type: 'Join', join: [`doc-${run}`] }));
      // Keep-alives go out meanwhile (every 100 ms of silence).
      await gateway.event('message', (event) => event.body === '{"type":"KeepAlive"}');
      b.socket.send(JSON.stringify({ type: 'Join', join: [`doc-${run}`] }));
      const [introduction] = text(await a.until(1));
      await b.until(1);
      expect(JSON.parse(introduction!)).toEqual({
        type: 'Introduction',
        id: `b-${run}`,
        keys: [`doc-${run}`],
      });
      // The server answered the keep-alives with nothing: the introduction is all either got.
      expect(a.received).toHaveLength(1);
      expect(b.received).toHaveLength(1);
      a.socket.close();
      b.socket.close();
      await Promise.all([a.closed, b.closed]);
    });
  });

  describe('under a throttle that the transport’s window exceeds', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      // The dev stage's 50 messages a second, with bursts of 2: the window's first frames,
      // written at once, exceed it however loaded the machine is.
      gateway = await startTestGateway(backend, {
        invocationJitterMs: JITTER_MS,
        throttle: { rate: 50, burst: 2 },
      });
    });
    afterAll(() => gateway.close());

    it('sends a multi-megabyte message before the peer connects without tripping the hold bound', async () => {
      const Socket = signalSocket({ WebSocket: Ws });
      const [urlA, urlB] = pairUrls(gateway.wsUrl(''));
      const a = new Endpoint(new Socket(urlA));
      await a.opened;
      const message = mixedText(1_500_000, 3); // 2.4 MB of UTF-8
      a.socket.send(message);
      expect(a.socket.bufferedAmount).toBeGreaterThan(2_000_000);
      // The peer arrives late; meanwhile the server holds at most what the transport sent.
      await gateway.settled();
      const b = new Endpoint(new Socket(urlB));
      const [received] = await b.until(1, 100_000);
      expect(received === message).toBe(true);
      expect(gateway.logs.filter((line) => line.includes('held frames over the limit'))).toEqual(
        [],
      );
      // The throttle dropped frames on the way (API Gateway's error frames went to the sender),
      // and none of them reached either app.
      expect(gateway.logs.some((line) => line.includes('message throttled'))).toBe(true);
      expect(a.received).toEqual([]);
      expect(a.socket.bufferedAmount).toBe(0);
      b.socket.close(4000, 'done');
      expect(await a.closedWithin()).toEqual({ code: 4000, reason: 'done', wasClean: true });
    }, 120_000);
  });

  describe('with a short idle timeout', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      gateway = await startTestGateway(backend, {
        invocationJitterMs: JITTER_MS,
        throttle: THROTTLE,
        idleTimeoutMs: 800,
      });
    });
    afterAll(() => gateway.close());

    it('keeps an idle relay open with keep-alives, and resumes one cut without them', async () => {
      const [a, b] = await openPair(gateway.wsUrl(''), { keepAliveMs: 200 });
      const [c, d] = await openPair(gateway.wsUrl(''), { keepAliveMs: 60_000 });
      // Idle for well over the idle timeout: the second pair is cut at least once.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      a.socket.send('still here');
      c.socket.send('back again');
      expect(await b.until(1)).toEqual(['still here']);
      expect(await d.until(1)).toEqual(['back again']);
      const cutIds = new Set(
        gateway.events
          .filter(
            (e) => e.route === 'disconnect' && e.event.requestContext.disconnectStatusCode === 1001,
          )
          .map((e) => e.event.requestContext.connectionId),
      );
      const ids = (endpoint: Endpoint) =>
        gateway.events
          .filter(
            (e) =>
              e.route === 'connect' &&
              e.event.queryStringParameters?.localId ===
                new URL(endpoint.socket.url).pathname.split('/').at(-3),
          )
          .map((e) => e.event.requestContext.connectionId);
      expect([...ids(a), ...ids(b)].filter((id) => cutIds.has(id))).toEqual([]);
      expect([...ids(c), ...ids(d)].some((id) => cutIds.has(id))).toBe(true);
      for (const endpoint of [a, b, c, d]) expect(endpoint.socket.readyState).toBe(WebSocket.OPEN);
      a.socket.close();
      c.socket.close();
      await Promise.all([a.closed, b.closed, c.closed, d.closed]);
    });
  });

  describe('with a short maximum connection duration', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      gateway = await startTestGateway(backend, {
        invocationJitterMs: JITTER_MS,
        throttle: THROTTLE,
        maxConnectionMs: 1_200,
      });
    });
    afterAll(() => gateway.close());

    it('streams across maximum-duration cuts: nothing lost, nothing twice, no close', async () => {
      const [a, b] = await openPair(gateway.wsUrl(''));
      let closes = 0;
      for (const endpoint of [a, b]) endpoint.socket.addEventListener('close', () => closes++);
      const sent: string[] = [];
      // Both sides stream for a few cuts' worth of time.
      const until = Date.now() + 3_500;
      let i = 0;
      while (Date.now() < until) {
        const message = i % 50 === 0 ? mixedText(40_000, i) : `m${i}`;
        sent.push(message);
        a.socket.send(message);
        b.socket.send(message);
        i++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(await b.until(sent.length, 30_000)).toEqual(sent);
      expect(await a.until(sent.length, 30_000)).toEqual(sent);
      expect(platformCuts(gateway)).toBeGreaterThanOrEqual(2);
      expect(closes).toBe(0);
      a.socket.close();
      await Promise.all([a.closed, b.closed]);
    });
  });
});

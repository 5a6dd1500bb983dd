/**
 * The local gateway's two optional behaviours of API Gateway and Lambda: the stage throttle
 * (a token bucket over messages and handshakes) and the invocation jitter (Lambda's scheduling
 * spread, which reorders frames sent back to back). Each test starts its own gateway, since the
 * stage's bucket is shared by every socket.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startGateway,
  tooManyRequestsFrame,
  type GatewayOptions,
} from '../../local/gateway/index.js';
import { TestSocket, refusal } from '../../testing/socket.js';
import { backends, startTestGateway, type Backend, type TestGateway } from '../support/gateway.js';
import { run, TSX } from '../support/run.js';

/** A refill so slow that no token comes back while a test runs: only the burst counts. */
const NO_REFILL = 0.001;

describe.each(backends())('local gateway options on $name', (backend: Backend) => {
  let gateway: TestGateway | undefined;
  const sockets: TestSocket[] = [];
  const run = randomUUID().slice(0, 8);

  const start = async (options: GatewayOptions) => {
    gateway = await startTestGateway(backend, options);
    return gateway;
  };
  const open = async (path: string) => {
    const socket = await TestSocket.open(gateway!.wsUrl(path));
    sockets.push(socket);
    return socket;
  };
  /** A paired relay socket pair, A and B, for `key`. */
  const pair = async (key: string) => {
    const [A, B] = [`A-${run}`, `B-${run}`];
    const a = await open(`/connection/${A}/${B}/${key}-${run}`);
    const b = await open(`/connection/${B}/${A}/${key}-${run}`);
    await gateway!.settled();
    return [a, b] as const;
  };

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
    await gateway?.close();
    gateway = undefined;
  });

  it('drops a throttled message before the handler and answers API Gateway’s frame', async () => {
    // Two handshakes and two messages take the four tokens; the next three are throttled.
    await start({ throttle: { rate: NO_REFILL, burst: 4 } });
    const [a, b] = await pair('throttled');
    for (let i = 0; i < 5; i++) a.send(`frame ${i}`);
    const frames = await a.take(3);
    const aId = gateway!.connectionId(a);
    for (const frame of frames) {
      const { requestId } = JSON.parse(frame) as { requestId: string };
      expect(requestId).toMatch(/^[A-Za-z0-9+/]{15}=$/);
      expect(frame).toBe(tooManyRequestsFrame(aId, requestId));
      expect(frame).toBe(
        `{"message": "Too Many Requests", "connectionId":"${aId}", "requestId":"${requestId}"}`,
      );
    }
    expect(
      new Set(frames.map((frame) => (JSON.parse(frame) as { requestId: string }).requestId)).size,
    ).toBe(3);
    await a.sync();
    await gateway!.settled();
    await b.sync();
    // Frames sent back to back may be handled, and so arrive, in either order (as on AWS).
    expect([...b.received].sort()).toEqual(['frame 0', 'frame 1']);
    const handled = gateway!.events.filter(
      (entry) => entry.route === 'message' && entry.event.requestContext.connectionId === aId,
    );
    expect(handled.map((entry) => entry.event.body).sort()).toEqual(['frame 0', 'frame 1']);
    expect(a.isOpen && b.isOpen).toBe(true);
  });

  it('refuses a throttled handshake with 429 before $connect runs', async () => {
    await start({ throttle: { rate: NO_REFILL, burst: 1 } });
    await open(`/introduction/first-${run}`);
    const refused = await refusal(gateway!.wsUrl(`/introduction/second-${run}`));
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toEqual({ message: 'Too Many Requests' });
    await gateway!.settled();
    expect(gateway!.events.filter((entry) => entry.route === 'connect')).toHaveLength(1);
  });

  it('hands a burst to the handler out of order under invocation jitter, each frame once', async () => {
    await start({ invocationJitterMs: 20 });
    const [a, b] = await pair('jitter');
    const sent = Array.from({ length: 100 }, (_, i) => String(i));
    for (const frame of sent) a.send(frame);
    const received = await b.take(sent.length);
    expect([...received].sort((x, y) => Number(x) - Number(y))).toEqual(sent);
    // 100 frames each started 0–20 ms late: arriving in the order sent would be a miracle.
    expect(received).not.toEqual(sent);
  });
});

describe('local gateway options refused', () => {
  it('refuses a throttle that is no token bucket and a negative jitter', async () => {
    await expect(startGateway({ throttle: { rate: 0, burst: 10 } })).rejects.toThrow(
      /throttle rate must be a positive number/,
    );
    await expect(startGateway({ throttle: { rate: 5, burst: 0.5 } })).rejects.toThrow(
      /throttle burst must be a whole number/,
    );
    await expect(startGateway({ invocationJitterMs: -1 })).rejects.toThrow(
      /invocationJitterMs must be a number of ms, 0 or more/,
    );
  });

  /** `npm start -- …args`, as the command runs; bad options exit before anything listens. */
  const npmStart = (args: string[]) => run(TSX, ['local/main.ts', ...args]);

  it.each([
    [['--throttle', '50'], /--throttle must be RATE,BURST \(e\.g\. 50,100\), not "50"/],
    [['--throttle', '50,x'], /--throttle must be RATE,BURST .*burst must be a whole number/],
    [['--throttle', '0,100'], /--throttle must be RATE,BURST .*rate must be a positive number/],
    [['--invocation-jitter=-5'], /--invocation-jitter must be a number of milliseconds, 0 or more/],
    [['--invocation-jitter', 'soon'], /--invocation-jitter must be a number of milliseconds/],
  ])('npm start %j exits 2 with a usage error', async (args, message) => {
    const { code, stderr } = await npmStart(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('Run with --help for the options.');
  });
});

/**
 * After API Gateway cuts a paired relay socket (1001 "Going away": idle or maximum duration),
 * the server introduces the two peers to each other again for that key, so that unchanged
 * clients re-pair at once; never after a deliberate close or when a peer is leaving.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEEP_ALIVE_FRAME } from '../../lambda/core/protocol.js';
import type { GatewayOptions } from '../../local/gateway/index.js';
import { TestSocket } from '../../testing/socket.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.each(backends())('re-introduction after a platform cut on $name', (backend) => {
  let gateway: TestGateway | undefined;
  let sockets: TestSocket[] = [];
  let timers: NodeJS.Timeout[] = [];
  let A: string, B: string, key: string;

  beforeEach(() => {
    const run = randomUUID().slice(0, 8);
    [A, B, key] = [`A-${run}`, `B-${run}`, `doc-${run}`];
  });
  afterEach(async () => {
    timers.forEach((timer) => clearInterval(timer));
    timers = [];
    await Promise.all(sockets.map((socket) => socket.close()));
    sockets = [];
    await gateway?.close();
    gateway = undefined;
  });

  const open = async (path: string) => {
    const socket = await TestSocket.open(gateway!.wsUrl(path));
    sockets.push(socket);
    return socket;
  };
  /** Keeps an introduction socket from being cut for idleness, as the client transport does. */
  const keepAlive = (socket: TestSocket, everyMs: number) =>
    timers.push(setInterval(() => socket.isOpen && socket.send(KEEP_ALIVE_FRAME), everyMs));
  const introduction = (id: string) => ({ type: 'Introduction', id, keys: [key] });

  /** Two introduction sockets sharing `key`, introduced, then their relay pair. */
  async function paired(options: GatewayOptions, stagger = 0, query = '') {
    gateway = await startTestGateway(backend, options);
    const a = await open(`/introduction/${A}`);
    const b = await open(`/introduction/${B}`);
    a.send({ type: 'Join', join: [key] });
    await a.sync();
    await gateway.settled();
    b.send({ type: 'Join', join: [key] });
    expect(await a.nextJson()).toEqual(introduction(B));
    expect(await b.nextJson()).toEqual(introduction(A));
    const ab = await open(`/connection/${A}/${B}/${key}${query}`);
    // Opened a little apart, one relay socket goes idle first and the server closes the other.
    if (stagger) await sleep(stagger);
    const ba = await open(`/connection/${B}/${A}/${key}${query}`);
    ab.send('hello');
    expect(await ba.next()).toBe('hello');
    return { a, b, ab, ba };
  }

  /** Everything the server does for these sockets' closes is done, and has arrived. */
  const quiet = async (...peers: TestSocket[]) => {
    await gateway!.settled();
    await Promise.all(peers.map((peer) => peer.sync()));
  };

  it('introduces both peers again when the platform cuts an idle relay pair', async () => {
    const { a, b, ab, ba } = await paired({ idleTimeoutMs: 1_500 }, 400);
    keepAlive(a, 300);
    keepAlive(b, 300);
    expect(await ab.closedBy(10_000)).toEqual({ code: 1001, reason: 'Going away' });
    await ba.closedBy(10_000);
    const cut = await gateway!.disconnected(ab);
    expect(cut.event.requestContext).toMatchObject({
      disconnectStatusCode: 1001,
      disconnectReason: 'Going away',
    });
    expect(await a.nextJson(10_000)).toEqual(introduction(B));
    expect(await b.nextJson(10_000)).toEqual(introduction(A));
    // The clients re-pair at once.
    const ab2 = await open(`/connection/${A}/${B}/${key}`);
    const ba2 = await open(`/connection/${B}/${A}/${key}`);
    ba2.send('again');
    expect(await ab2.next()).toBe('again');
  });

  it('introduces both peers again when the platform cuts a relay pair at its maximum duration', async () => {
    const { a, b, ab } = await paired({ maxConnectionMs: 6_000 });
    // Younger introduction sockets take over, so that they outlive the relay pair.
    await sleep(3_000);
    const a2 = await open(`/introduction/${A}`);
    const b2 = await open(`/introduction/${B}`);
    await quiet(a2, b2);
    await Promise.all([a.close(), b.close()]);
    expect(await ab.closedBy(10_000)).toEqual({ code: 1001, reason: 'Going away' });
    expect(await a2.nextJson(10_000)).toEqual(introduction(B));
    expect(await b2.nextJson(10_000)).toEqual(introduction(A));
  });

  it('leaves a SignalSocket transport pair cut by the platform to the transport, which resumes it', async () => {
    const { a, b, ab, ba } = await paired({ idleTimeoutMs: 1_500 }, 0, '?transport=signalsocket-1');
    keepAlive(a, 300);
    keepAlive(b, 300);
    expect(await ab.closedBy(10_000)).toEqual({ code: 1001, reason: 'Going away' });
    await ba.closedBy(10_000);
    await gateway!.disconnected(ab);
    await gateway!.disconnected(ba);
    await quiet(a, b);
    expect([...a.unread(), ...b.unread()]).toEqual([]);
  });

  it('introduces nobody after a deliberate close', async () => {
    const { a, b, ab, ba } = await paired({});
    await ab.close(1000, 'done');
    await ba.closedBy();
    await gateway!.disconnected(ab);
    await gateway!.disconnected(ba);
    await quiet(a, b);
    expect([...a.unread(), ...b.unread()]).toEqual([]);
  });

  it.each([
    ['as a browser leaving a page does (1001, no reason)', ''],
    ['even saying "Going away"', 'Going away'],
  ])('introduces nobody when a peer leaves, closing all its sockets %s', async (_, reason) => {
    const { a, b, ab, ba } = await paired({});
    await Promise.all([ab.close(1001, reason), a.close(1001, reason)]);
    await ba.closedBy();
    const left = await gateway!.disconnected(ab);
    expect(left.event.requestContext).toMatchObject({
      disconnectStatusCode: 1001,
      disconnectReason: reason,
    });
    await gateway!.disconnected(ba);
    await gateway!.disconnected(a);
    await quiet(b);
    expect(b.unread()).toEqual([]);
  });
});

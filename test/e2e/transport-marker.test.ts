/**
 * Relay sockets marked with the SignalSocket transport at the handshake (`transport=…`) pair
 * only with sockets marked alike: a transport socket and a plain one are never paired, whichever
 * arrives first, and both sides learn why.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestSocket, refusal } from '../../testing/socket.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';

const MARK = 'transport=signalsocket-1';
const PLAIN_REFUSED =
  "the peer's relay socket uses the SignalSocket transport and this one does not";
const TRANSPORT_REFUSED =
  "this relay socket uses the SignalSocket transport and the peer's does not";

describe.each(backends())('relay transport marker on $name', (backend) => {
  let gateway: TestGateway;
  let sockets: TestSocket[] = [];
  let A: string, B: string, key: string;

  beforeAll(async () => {
    gateway = await startTestGateway(backend);
  });
  afterAll(() => gateway.close());
  beforeEach(() => {
    const run = randomUUID().slice(0, 8);
    [A, B, key] = [`A-${run}`, `B-${run}`, `doc-${run}`];
  });
  afterEach(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    sockets = [];
    await gateway.settled();
  });

  const path = (local: string, remote: string, marked: boolean) =>
    `/connection/${local}/${remote}/${key}${marked ? `?${MARK}` : ''}`;
  const open = async (url: string) => {
    const socket = await TestSocket.open(gateway.wsUrl(url));
    sockets.push(socket);
    return socket;
  };
  /** The latest $connect refused with 409: the arriving socket of the test. */
  const lastRefusal = () =>
    gateway.events
      .filter((entry) => entry.route === 'connect' && entry.result?.statusCode === 409)
      .at(-1)!;
  const warned = (a: string, b: string) =>
    gateway.logs.filter(
      (line) => line.includes('use different transports') && line.includes(a) && line.includes(b),
    );

  it('refuses a plain socket meeting a waiting transport socket: 409 here, Error frame and close there', async () => {
    const waiting = await open(path(A, B, true));
    const waitingId = gateway.connectionId(waiting);
    await gateway.settled();
    const refused = await refusal(gateway.wsUrl(path(B, A, false)));
    expect(refused).toMatchObject({ status: 409, body: PLAIN_REFUSED });
    expect(await waiting.nextJson()).toEqual({ type: 'Error', error: TRANSPORT_REFUSED });
    expect((await waiting.closedBy()).code).toBe(1000);
    expect(waiting.received).toHaveLength(1);
    await gateway.settled();
    const refusedConnect = lastRefusal();
    expect(warned(waitingId, refusedConnect.event.requestContext.connectionId)).toHaveLength(1);
  });

  it('refuses a transport socket meeting a waiting plain socket: 409 here, a bare close there', async () => {
    const waiting = await open(path(A, B, false));
    const waitingId = gateway.connectionId(waiting);
    await gateway.settled();
    const refused = await refusal(gateway.wsUrl(path(B, A, true)));
    expect(refused).toMatchObject({ status: 409, body: TRANSPORT_REFUSED });
    // The plain app never sees a frame of ours: only the close.
    expect((await waiting.closedBy()).code).toBe(1000);
    expect(waiting.received).toEqual([]);
    await gateway.settled();
    const refusedConnect = lastRefusal();
    expect(refusedConnect.result?.body).toBe(TRANSPORT_REFUSED);
    expect(warned(waitingId, refusedConnect.event.requestContext.connectionId)).toHaveLength(1);
  });

  it('leaves the pair free after a refusal: matched sockets then pair', async () => {
    await open(path(A, B, false));
    await gateway.settled();
    await refusal(gateway.wsUrl(path(B, A, true)));
    await gateway.settled();
    const a = await open(path(A, B, true));
    const b = await open(path(B, A, true));
    a.send('to b');
    b.send('to a');
    expect(await b.next()).toBe('to b');
    expect(await a.next()).toBe('to a');
  });

  it.each([
    ['both transport sockets', true, true],
    ['both plain sockets', false, false],
  ])('pairs %s and relays both ways, held frames first', async (_, first, second) => {
    const a = await open(path(A, B, first));
    a.send('held');
    await a.sync();
    await gateway.settled();
    const b = await open(path(B, A, second));
    a.send('direct');
    b.send('back');
    expect(await b.take(2)).toEqual(['held', 'direct']);
    expect(await a.next()).toBe('back');
  });

  it('pairs transport sockets in the query form too', async () => {
    const query = (local: string, remote: string) =>
      `/${gateway.stage}?type=connection&localId=${local}&remoteId=${remote}&key=${key}&${MARK}`;
    const a = await open(query(A, B));
    const b = await open(query(B, A));
    a.send('hello');
    expect(await b.next()).toBe('hello');
  });

  it('refuses an unknown transport with 400 and says why, in the path form and the query form', async () => {
    const reason = 'transport must be signalsocket-1, or absent for a plain socket';
    const path400 = await refusal(gateway.wsUrl(`/connection/${A}/${B}/${key}?transport=v2`));
    expect(path400).toMatchObject({ status: 400, body: reason });
    const query400 = await refusal(
      gateway.wsUrl(
        `/${gateway.stage}?type=connection&localId=${A}&remoteId=${B}&key=${key}&transport=`,
      ),
    );
    expect(query400).toMatchObject({ status: 400, body: reason });
  });
});

/**
 * The edge proves itself to the stage, end to end through the local gateway: with the edge's
 * secret required, a handshake on the stage URL without the secret header is refused with 403
 * and never opens a socket, while one through the edge (the path form) gets in, since the local
 * edge adds the header as CloudFront's custom origin header does.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_SECRET_HEADER } from '../../lambda/core/access.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { refusal, TestSocket } from '../../testing/socket.js';

const EDGE_SECRET = randomUUID();

describe.each(backends())('the edge secret required at $connect ($name)', (backend) => {
  let gateway: TestGateway;
  const sockets: TestSocket[] = [];
  const run = randomUUID().slice(0, 8);
  const direct = (id: string) =>
    gateway.wsUrl(`/${gateway.stage}?type=introduction&localId=${id}-${run}`);
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const socket = await TestSocket.open(url, { headers });
    sockets.push(socket);
    return socket;
  };
  /** The secret header `$connect` saw on a socket's handshake, in whatever case it came. */
  const secretSeenBy = async (socket: TestSocket) => {
    const { event } = await gateway.event(
      'connect',
      (e) => e.requestContext.connectionId === gateway.connectionId(socket),
    );
    return Object.entries(event.headers ?? {})
      .filter(([name]) => name.toLowerCase() === EDGE_SECRET_HEADER.toLowerCase())
      .map(([, value]) => value);
  };

  beforeAll(async () => {
    gateway = await startTestGateway(backend, { access: { edgeSecret: EDGE_SECRET } });
  });
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await gateway.close();
  });

  it('refuses a direct handshake without the header with 403, answered by $connect', async () => {
    const { status, body } = await refusal(direct('A'));
    expect({ status, body }).toEqual({ status: 403, body: 'not through the edge' });
    const refused = await gateway.event(
      'connect',
      (e) => e.queryStringParameters?.localId === `A-${run}`,
    );
    expect(refused.result?.statusCode).toBe(403);
  });

  it('refuses a direct handshake with a wrong secret with 403', async () => {
    const { status } = await refusal(direct('B'), { headers: { [EDGE_SECRET_HEADER]: 'guess' } });
    expect(status).toBe(403);
  });

  it('lets a handshake through the edge in, carrying the edge’s secret once', async () => {
    const socket = await open(gateway.wsUrl(`/introduction/C-${run}`));
    expect(await secretSeenBy(socket)).toEqual([EDGE_SECRET]);
  });

  it('overwrites a viewer’s own secret header at the edge, as CloudFront does', async () => {
    const socket = await open(gateway.wsUrl(`/introduction/D-${run}`), {
      [EDGE_SECRET_HEADER]: 'guess',
    });
    expect(await secretSeenBy(socket)).toEqual([EDGE_SECRET]);
  });

  it('lets a direct handshake with the secret in: the header is the whole proof', async () => {
    const socket = await open(direct('E'), { [EDGE_SECRET_HEADER]: EDGE_SECRET });
    expect(await secretSeenBy(socket)).toEqual([EDGE_SECRET]);
  });
});

describe.each(backends())('no edge secret configured ($name)', (backend) => {
  let gateway: TestGateway;
  beforeAll(async () => (gateway = await startTestGateway(backend)));
  afterAll(() => gateway.close());

  it('takes direct handshakes, and the edge adds no header and passes no viewer’s', async () => {
    const run = randomUUID().slice(0, 8);
    const direct = await TestSocket.open(
      gateway.wsUrl(`/${gateway.stage}?type=introduction&localId=F-${run}`),
    );
    const viaEdge = await TestSocket.open(gateway.wsUrl(`/introduction/G-${run}`), {
      headers: { [EDGE_SECRET_HEADER]: 'forged' },
    });
    const { event } = await gateway.event(
      'connect',
      (e) => e.requestContext.connectionId === gateway.connectionId(viaEdge),
    );
    expect(Object.keys(event.headers ?? {}).map((name) => name.toLowerCase())).not.toContain(
      EDGE_SECRET_HEADER.toLowerCase(),
    );
    await Promise.all([direct.close(), viaEdge.close()]);
  });
});

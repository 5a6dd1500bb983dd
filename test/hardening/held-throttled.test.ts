/**
 * A held frame's write throttled by DynamoDB while the pair forms, black-box: real sockets on the
 * local gateway, whose real SDK clients reach DynamoDB through a fault proxy
 * (test/support/dynamodb-proxy.ts) that throttles the held-frame writes for 4 s. The SDK's own
 * retries of one throttled write take about 3.5 s, so this is ordinary throttling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite, type LocalDynamo } from '../../local/dynamodb.js';
import { backends } from '../support/dynamodb.js';
import { startDynamoProxy, type DynamoProxy } from '../support/dynamodb-proxy.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { TestSocket } from '../../testing/socket.js';

const THROTTLED_MS = 4_000;

describe.each(backends())('a held frame throttled while the pair forms ($name)', (backend) => {
  let dynalite: LocalDynamo | undefined;
  let proxy: DynamoProxy;
  let gateway: TestGateway;
  beforeAll(async () => {
    if (!backend.endpoint) dynalite = await startDynalite();
    proxy = await startDynamoProxy(backend.endpoint ?? dynalite!.endpoint);
    gateway = await startTestGateway({ name: backend.name, endpoint: proxy.endpoint });
  });
  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
    await dynalite?.close();
  });

  it('is delivered in its place, both sockets staying open (never lost with both open)', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const a = await TestSocket.open(gateway.wsUrl(`/connection/a-${tag}/b-${tag}/doc-${tag}`));
    a.send('h1');
    await gateway.event('message', (event) => event.body === 'h1');
    const until = Date.now() + THROTTLED_MS;
    const isHeldFrame = (body: Record<string, unknown>) =>
      JSON.stringify(body.Item ?? {}).includes('"H#');
    proxy.setRule((call) =>
      call.operation === 'PutItem' && isHeldFrame(call.body) && Date.now() < until
        ? { throttle: true }
        : undefined,
    );
    a.send('h2');
    const b = await TestSocket.open(gateway.wsUrl(`/connection/b-${tag}/a-${tag}/doc-${tag}`));
    // h2's invocation returns once its write got through the throttling.
    await gateway.event('message', (event) => event.body === 'h2', 15_000);
    expect(proxy.throttled('PutItem')).toBeGreaterThan(0);
    a.send('h3');
    await gateway.settled();
    await b.sync();
    // Waited for within the deliverer's patience: delivered in its place, both sockets open.
    expect(b.unread()).toEqual(['h1', 'h2', 'h3']);
    expect(a.isOpen && b.isOpen).toBe(true);
    await Promise.all([a.close(), b.close()]);
  }, 30_000);
});

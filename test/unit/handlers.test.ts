import {
  InternalServerError,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createHandlers } from '../../lambda/core/handlers.js';
import { MESSAGE_FAILED } from '../../lambda/core/introduction.js';
import { silentLogger } from '../../lambda/core/log.js';
import {
  conditionFailed,
  connKey,
  connectEvent,
  connectionItem,
  disconnectEvent,
  harness,
  messageEvent,
  peerItem,
  peerKey,
} from '../support/harness.js';

const throughputExceeded = () =>
  new ProvisionedThroughputExceededException({
    message: 'The level of configured provisioned throughput for the table was exceeded',
    $metadata: { httpStatusCode: 400 },
  });

const internalError = () =>
  new InternalServerError({ message: 'Internal server error', $metadata: { httpStatusCode: 500 } });

describe('$connect', () => {
  it.each([
    [{}, 'type is missing (introduction or connection)'],
    [{ type: 'introduction', localId: 'a'.repeat(257) }, 'localId is longer than 256 characters'],
    [{ type: 'connection', localId: 'a', remoteId: 'b' }, 'key must be a string'],
  ])('refuses the handshake %j with 400 and writes nothing', async (query, reason) => {
    const h = harness();
    await expect(h.handlers.connect(connectEvent('c1', query))).resolves.toEqual({
      statusCode: 400,
      body: reason,
    });
    expect(h.db.calls()).toHaveLength(0);
    expect(h.logs).toEqual([
      expect.objectContaining({
        level: 'info',
        message: 'handshake refused',
        fields: expect.objectContaining({ reason }) as unknown,
      }),
    ]);
  });

  it('refuses a handshake that the access policy rejects, before reading its parameters', async () => {
    const h = harness();
    const handlers = createHandlers(
      { ...h.services, access: { allowedOrigins: ['https://app.example'], token: 'sesame' } },
      { log: silentLogger },
    );
    await expect(
      handlers.connect(
        connectEvent(
          'c1',
          { type: 'introduction', localId: 'a' },
          { Origin: 'https://evil.example' },
        ),
      ),
    ).resolves.toEqual({ statusCode: 403, body: 'origin not allowed' });
    await expect(
      handlers.connect(connectEvent('c1', {}, { Origin: 'https://app.example' })),
    ).resolves.toEqual({ statusCode: 401, body: 'missing or wrong token' });
    await expect(
      handlers.connect(
        connectEvent(
          'c1',
          { type: 'introduction', localId: 'a', token: 'sesame' },
          { origin: 'https://app.example' },
        ),
      ),
    ).resolves.toEqual({ statusCode: 200 });
    expect(h.db.commandCalls(PutCommand)).toHaveLength(1);
  });

  it('treats a duplicate $connect for the same connection as done', async () => {
    const h = harness();
    h.db.on(PutCommand).rejects(conditionFailed());
    await expect(
      h.handlers.connect(connectEvent('c1', { type: 'introduction', localId: 'a' })),
    ).resolves.toEqual({ statusCode: 200 });
  });

  it('logs the viewer’s address that CloudFront forwards, on every line of the $connect', async () => {
    const h = harness();
    const viewer = { 'CloudFront-Viewer-Address': '198.51.100.7:50321' };
    await h.handlers.connect(connectEvent('c1', { type: 'introduction', localId: 'a' }, viewer));
    await h.handlers.connect(connectEvent('c2', { type: 'connection' }, viewer));
    expect(h.logs.length).toBeGreaterThanOrEqual(2);
    for (const line of h.logs) {
      expect(line.fields).toMatchObject({ viewerAddress: '198.51.100.7:50321' });
    }
  });

  it('logs no viewer address for a handshake that did not come through CloudFront', async () => {
    const h = harness();
    await h.handlers.connect(connectEvent('c1', { type: 'introduction', localId: 'a' }));
    expect(h.logs.length).toBeGreaterThanOrEqual(1);
    for (const line of h.logs) expect(line.fields).not.toHaveProperty('viewerAddress');
  });

  it('uses API Gateway’s connectedAt for the record', async () => {
    const h = harness();
    const event = connectEvent('c1', { type: 'introduction', localId: 'a' });
    event.requestContext.connectedAt = 1_234;
    await h.handlers.connect(event);
    expect(h.db.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      connectedAt: 1_234,
    });
  });
});

describe('DynamoDB errors', () => {
  it('fails the $connect on throttling, logging it with the connection, route and request', async () => {
    const h = harness();
    h.db.on(PutCommand).rejects(throughputExceeded());
    await expect(
      h.handlers.connect(connectEvent('c1', { type: 'introduction', localId: 'a' })),
    ).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(h.logs).toEqual([
      {
        level: 'error',
        message: 'handler failed',
        fields: {
          route: '$connect',
          connectionId: 'c1',
          requestId: 'req-c1',
          error: expect.any(ProvisionedThroughputExceededException) as unknown,
        },
      },
    ]);
    expect(h.emf).toEqual([expect.objectContaining({ stage: 'test', Errors: 1, Connections: 1 })]);
  });

  it('retries a message whose socket read fails on a DynamoDB 500, never failing the invocation', async () => {
    const h = harness();
    h.db
      .on(GetCommand, { Key: connKey('c1') })
      .rejectsOnce(internalError())
      .resolves({
        Item: connectionItem({
          kind: 'introduction',
          connectionId: 'c1',
          peerId: 'A',
          connectedAt: 1,
        }),
      });
    h.db.on(GetCommand, { Key: peerKey('A') }).resolves({
      Item: peerItem({ peerId: 'A', current: 'c1', sockets: ['c1'], session: 'c1', keys: [] }),
    });
    await expect(h.handlers.message(messageEvent('c1', '{"join":[]}'))).resolves.toEqual({
      statusCode: 200,
    });
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'reading a socket failed: retrying',
        fields: expect.objectContaining({ route: '$default', connectionId: 'c1' }) as unknown,
      }),
    );
    expect(h.posts()).toEqual([]);
    expect(h.closed()).toEqual([]);
  });

  it('closes a socket whose record cannot be read: its kind is unknown, so no Error frame', async () => {
    // Each look at the clock moves it a second on: the retry budget runs out at once.
    let clock = 0;
    const h = harness({ now: () => (clock += 1_000) });
    h.db.on(GetCommand, { Key: connKey('c1') }).rejects(internalError());
    await expect(h.handlers.message(messageEvent('c1', 'data'))).resolves.toEqual({
      statusCode: 200,
    });
    expect(h.posts()).toEqual([]);
    expect(h.closed()).toEqual(['c1']);
    expect(h.logs.at(-1)).toMatchObject({
      level: 'error',
      message: 'could not read the socket: closing it',
    });
  });

  it('fails a $disconnect when the peer record cannot be updated', async () => {
    const h = harness();
    h.db.on(DeleteCommand, { Key: connKey('c1') }).resolves({
      Attributes: connectionItem({
        kind: 'introduction',
        connectionId: 'c1',
        peerId: 'A',
        connectedAt: 1,
      }),
    });
    h.db.on(UpdateCommand, { Key: peerKey('A') }).rejects(throughputExceeded());
    await expect(h.handlers.disconnect(disconnectEvent('c1'))).rejects.toThrow(
      'provisioned throughput',
    );
    expect(h.logs.at(-1)).toMatchObject({
      level: 'error',
      fields: { route: '$disconnect', connectionId: 'c1', disconnectStatusCode: 1000 },
    });
  });

  it('never logs frame bodies or key names, even when failing', async () => {
    const h = harness();
    h.db.on(GetCommand, { Key: connKey('c1') }).resolves({
      Item: connectionItem({
        kind: 'introduction',
        connectionId: 'c1',
        peerId: 'A',
        connectedAt: 1,
      }),
    });
    h.db.on(GetCommand, { Key: peerKey('A') }).rejects(internalError());
    await h.handlers.message(messageEvent('c1', '{"join":["secret-document-key"]}'));
    expect(h.posts()).toEqual([
      { to: 'c1', data: JSON.stringify({ type: 'Error', error: MESSAGE_FAILED }) },
    ]);
    await h.handlers.message(messageEvent('c1', '{"join":"secret-document-key"}'));
    expect(JSON.stringify(h.logs)).not.toContain('secret-document-key');
  });
});

describe('metrics', () => {
  it('emits nothing for an invocation that counted nothing', async () => {
    const h = harness();
    await h.handlers.disconnect(disconnectEvent('c1'));
    expect(h.emf).toEqual([]);
  });

  it('dimensions each invocation’s counters by stage, "local" when none is given', async () => {
    const h = harness();
    const emitted: Record<string, unknown>[] = [];
    const handlers = createHandlers(h.services, {
      log: silentLogger,
      emitMetrics: (emf) => emitted.push(emf),
    });
    await handlers.connect(connectEvent('c1', { type: 'introduction', localId: 'a' }));
    expect(emitted).toEqual([expect.objectContaining({ stage: 'local', Connections: 1 })]);
  });
});

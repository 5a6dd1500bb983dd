import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  ForbiddenException,
  GetConnectionCommand,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isGone, ManagementApiMessenger } from '../../lambda/core/messenger.js';
import { gone } from '../support/harness.js';

const endpoint = 'https://abc.execute-api.eu-west-1.amazonaws.com/dev';

describe('ManagementApiMessenger', () => {
  const client = new ApiGatewayManagementApiClient({ region: 'eu-west-1', endpoint });
  const api = mockClient(client);
  const messenger = new ManagementApiMessenger(client);
  beforeEach(() => api.reset());

  it('posts the frame as UTF-8 bytes to the connection', async () => {
    api.on(PostToConnectionCommand).resolves({});
    await expect(messenger.post('c1', '{"type":"Introduction","id":"🐟"}')).resolves.toBe('sent');
    const [call] = api.commandCalls(PostToConnectionCommand);
    expect(call?.args[0].input.ConnectionId).toBe('c1');
    expect(Buffer.from(call!.args[0].input.Data as Uint8Array).toString()).toBe(
      '{"type":"Introduction","id":"🐟"}',
    );
  });

  it('closes a connection with DeleteConnection', async () => {
    api.on(DeleteConnectionCommand).resolves({});
    await expect(messenger.close('c2')).resolves.toBe('sent');
    expect(api.commandCalls(DeleteConnectionCommand)[0]?.args[0].input).toEqual({
      ConnectionId: 'c2',
    });
  });

  it('asks whether a connection is open with GetConnection: 410 means not', async () => {
    api.on(GetConnectionCommand, { ConnectionId: 'open' }).resolves({ ConnectedAt: new Date() });
    api.on(GetConnectionCommand, { ConnectionId: 'gone' }).rejects(gone());
    await expect(messenger.isAlive('open')).resolves.toBe(true);
    await expect(messenger.isAlive('gone')).resolves.toBe(false);
    expect(api.commandCalls(GetConnectionCommand)).toHaveLength(2);
  });

  it('answers gone, not an error, when API Gateway says 410', async () => {
    api.on(PostToConnectionCommand).rejects(gone());
    api.on(DeleteConnectionCommand).rejects(gone());
    await expect(messenger.post('c1', 'x')).resolves.toBe('gone');
    await expect(messenger.close('c1')).resolves.toBe('gone');
  });

  it('propagates LimitExceededException (429) as an error', async () => {
    api.on(PostToConnectionCommand).rejects(
      new LimitExceededException({
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 429 },
      }),
    );
    await expect(messenger.post('c1', 'x')).rejects.toBeInstanceOf(LimitExceededException);
  });

  it('propagates 403 and 5xx as errors', async () => {
    api
      .on(PostToConnectionCommand)
      .rejects(
        new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } }),
      );
    await expect(messenger.post('c1', 'x')).rejects.toThrow('Forbidden');
    api
      .on(DeleteConnectionCommand)
      .rejects(Object.assign(new Error('Internal'), { $metadata: { httpStatusCode: 500 } }));
    await expect(messenger.close('c1')).rejects.toThrow('Internal');
  });
});

describe('isGone', () => {
  it('recognises GoneException by name or by HTTP status 410', () => {
    expect(isGone(gone())).toBe(true);
    expect(isGone({ name: 'GoneException' })).toBe(true);
    expect(isGone({ name: 'Other', $metadata: { httpStatusCode: 410 } })).toBe(true);
    expect(isGone({ name: 'Other', $metadata: { httpStatusCode: 429 } })).toBe(false);
    expect(isGone(new Error('x'))).toBe(false);
    expect(isGone(null)).toBe(false);
    expect(isGone(undefined)).toBe(false);
  });
});

/**
 * The SDK's own retry strategy, which aws-sdk-client-mock bypasses: a request handler answering
 * with fixed HTTP statuses shows what the messenger relies on (429 and 5xx retried, 410 not).
 */
describe('ManagementApiMessenger over the SDK retry strategy', () => {
  interface SentRequest {
    method: string;
    path: string;
  }
  function answering(status: number) {
    const requests: SentRequest[] = [];
    const client = new ApiGatewayManagementApiClient({
      region: 'eu-west-1',
      endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 3,
      requestHandler: {
        handle: (request: SentRequest) => {
          requests.push(request);
          return Promise.resolve({
            response: {
              statusCode: status,
              headers: {
                'content-type': 'application/json',
                'x-amzn-errortype': errorType(status),
              },
              body: Buffer.from(JSON.stringify({ message: `status ${status}` })),
            },
          });
        },
      },
    });
    return { messenger: new ManagementApiMessenger(client), requests };
  }
  const errorType = (status: number) =>
    ({ 410: 'GoneException', 429: 'LimitExceededException' })[status] ?? 'InternalServerError';

  beforeEach(() => {
    // The standard retry strategy waits up to ~20 s in all; let its timers run at once.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /**
   * Runs the retry strategy's timers until the request settles. The SDK reaches some of its
   * timers through real I/O callbacks (reading the response), so one run is not enough.
   */
  async function settle<T>(promise: Promise<T>): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    void promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    while (!outcome) {
      await vi.runAllTimersAsync();
      await new Promise((resolve) => setImmediate(resolve));
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  it('retries a 429 LimitExceededException, then propagates it', async () => {
    const { messenger, requests } = answering(429);
    await expect(settle(messenger.post('c1', 'x'))).rejects.toBeInstanceOf(LimitExceededException);
    expect(requests).toHaveLength(3);
  });

  it('retries a 5xx, then propagates it', async () => {
    const { messenger, requests } = answering(500);
    await expect(settle(messenger.close('c1'))).rejects.toThrow();
    expect(requests).toHaveLength(3);
  });

  it('never retries a 410: one request, answered gone', async () => {
    const { messenger, requests } = answering(410);
    await expect(settle(messenger.post('c1', 'x'))).resolves.toBe('gone');
    expect(requests).toHaveLength(1);
    expect(requests[0]?.path).toBe('/dev/@connections/c1');
    expect(requests[0]?.method).toBe('POST');
  });
});

import {
  DynamoDBClient,
  ListTablesCommand,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS, startDynalite, type LocalDynamo } from '../../local/dynamodb.js';
import { startDynamoProxy, type DynamoProxy } from '../support/dynamodb-proxy.js';

describe('the DynamoDB fault proxy', () => {
  let backend: LocalDynamo;
  let proxy: DynamoProxy;
  let client: DynamoDBClient;

  beforeAll(async () => {
    backend = await startDynalite();
    proxy = await startDynamoProxy(backend.endpoint);
    client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: proxy.endpoint, maxAttempts: 2 });
  });
  afterAll(async () => {
    client.destroy();
    await proxy.close();
    await backend.close();
  });

  it('forwards requests untouched when no rule applies, and records them', async () => {
    proxy.setRule(undefined);
    const answer = await client.send(new ListTablesCommand({}));
    expect(answer.TableNames).toEqual([]);
    expect(proxy.calls.at(-1)?.operation).toBe('ListTables');
  });

  it('answers the chosen operation with the throttling error the SDK retries', async () => {
    proxy.setRule((call) => (call.operation === 'ListTables' ? { throttle: true } : undefined));
    await expect(client.send(new ListTablesCommand({}))).rejects.toBeInstanceOf(
      ProvisionedThroughputExceededException,
    );
    expect(proxy.throttled('ListTables')).toBe(2);
  });

  it('never answers a hung request', async () => {
    proxy.setRule(() => ({ hang: true }));
    const abort = new AbortController();
    const pending = client.send(new ListTablesCommand({}), { abortSignal: abort.signal });
    const outcome = await Promise.race([
      pending.then(
        () => 'answered',
        () => 'failed',
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 300)),
    ]);
    abort.abort();
    await pending.catch(() => undefined);
    expect(outcome).toBe('still waiting');
  });
});

/**
 * The handlers' SDK clients over real HTTP (lambda/clients.ts), against a local endpoint that
 * holds requests until as many are open at once as the core claims to send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { INTRODUCTION_CONCURRENCY } from '../../lambda/core/introduction.js';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { mapLimit } from '../../lambda/core/util.js';
import { createServices } from '../../lambda/runtime.js';
import { LOCAL_AWS } from '../../local/dynamodb.js';
import { startAwsEndpoint, type AwsEndpoint } from '../support/aws-endpoint.js';

describe('the SDK clients’ HTTP handler', () => {
  let endpoint: AwsEndpoint | undefined;
  afterEach(() => endpoint?.close());

  const servicesAt = (url: string) =>
    createServices(
      {
        tableName: 'signal-test',
        managementEndpoint: url,
        deliverFunctionName: 'deliver-test',
        limits: DEFAULT_LIMITS,
        logLevel: 'error',
        stage: 'test',
      },
      { ...LOCAL_AWS, dynamoDbEndpoint: url, lambdaEndpoint: url },
    );
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

  it('has 64 introduction posts in flight at once on the management API client, on kept-alive sockets', async () => {
    endpoint = await startAwsEndpoint('hold', { holdUntil: INTRODUCTION_CONCURRENCY });
    const { messenger } = servicesAt(endpoint.url);

    const posts = 2 * INTRODUCTION_CONCURRENCY;
    await mapLimit(ids(posts), INTRODUCTION_CONCURRENCY, (id) => messenger.post(id, 'hello'));

    expect(endpoint.requests).toBe(posts);
    expect(endpoint.mostInFlight).toBe(INTRODUCTION_CONCURRENCY);
    expect(endpoint.connections).toBeLessThanOrEqual(INTRODUCTION_CONCURRENCY);
  });

  it('has as many DynamoDB reads in flight at once as introductions (a 410 reads the record)', async () => {
    endpoint = await startAwsEndpoint('hold', { holdUntil: INTRODUCTION_CONCURRENCY });
    const { store } = servicesAt(endpoint.url);

    await mapLimit(ids(INTRODUCTION_CONCURRENCY), INTRODUCTION_CONCURRENCY, (id) =>
      store.connections.getConnection(id),
    );

    expect(endpoint.mostInFlight).toBe(INTRODUCTION_CONCURRENCY);
  });
});

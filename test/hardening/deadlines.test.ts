/**
 * Every invocation ends within its time, however its AWS endpoints misbehave: the handlers as
 * Lambda runs them (lambda/runtime.ts), on the real SDK clients, against a local endpoint that
 * answers every request 429 and one that never answers, standing for `@connections` (and
 * Lambda), or for DynamoDB. Lambda's remaining time is faked short, so that a run takes seconds;
 * docs/reliability.md gives the durations measured at the functions' real timeouts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebSocketEvent } from '../../lambda/core/handlers.js';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { silentLogger } from '../../lambda/core/log.js';
import {
  lambdaDeliveryInvoker,
  lambdaHandlers,
  type LambdaHandlers,
  type LambdaInvocation,
} from '../../lambda/runtime.js';
import { LOCAL_AWS } from '../../local/dynamodb.js';
import { startAwsEndpoint, type Answer, type AwsEndpoint } from '../support/aws-endpoint.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';

/** The remaining time Lambda reports at the start of each invocation under test (faked). */
const BUDGET_MS = 3_000;

const invocation = (budgetMs: number): LambdaInvocation => {
  const end = Date.now() + budgetMs;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};

let requests = 0;
const event = (
  routeKey: string,
  connectionId: string,
  more: Partial<WebSocketEvent> & { disconnect?: [number, string] } = {},
): WebSocketEvent => ({
  requestContext: {
    routeKey,
    connectionId,
    requestId: `req-${++requests}`,
    connectedAt: Date.now(),
    requestTimeEpoch: Date.now(),
    ...(more.disconnect
      ? { disconnectStatusCode: more.disconnect[0], disconnectReason: more.disconnect[1] }
      : {}),
  },
  queryStringParameters: more.queryStringParameters ?? null,
  body: more.body ?? null,
});

/** Where the handlers' clients are aimed. */
interface Endpoints {
  management: string;
  dynamoDb: string;
  lambda: string;
}

/** One invocation under test: state made on healthy endpoints, then the call on failing ones. */
interface Scenario {
  route: string;
  run(healthy: LambdaHandlers, failing: LambdaHandlers): Promise<() => Promise<unknown>>;
}

const id = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const relayQuery = (localId: string, remoteId: string, key: string) => ({
  queryStringParameters: { type: 'connection', localId, remoteId, key },
});
const ok = async (result: Promise<{ statusCode: number }>) => {
  const { statusCode } = await result;
  if (statusCode !== 200) throw new Error(`set-up invocation answered ${statusCode}`);
};
const healthyTime = () => invocation(10_000);

/** A relay socket `a` waiting, with a frame held for its peer. */
async function waitingWithHeldFrame(healthy: LambdaHandlers) {
  const [a, b, key] = [id('a'), id('b'), id('doc')];
  await ok(healthy.connect(event('$connect', a, relayQuery('A', 'B', key)), healthyTime()));
  await ok(healthy.message(event('$default', a, { body: 'held' }), healthyTime()));
  return { a, b, key };
}

/** Relay sockets `a` and `b`, paired, nothing held: frames go straight. */
async function pairedRelay(healthy: LambdaHandlers) {
  const [a, b, key] = [id('a'), id('b'), id('doc')];
  await ok(healthy.connect(event('$connect', a, relayQuery('A', 'B', key)), healthyTime()));
  await ok(healthy.connect(event('$connect', b, relayQuery('B', 'A', key)), healthyTime()));
  return { a, b };
}

const SCENARIOS: Scenario[] = [
  {
    route: '$connect (pairing with a socket that holds a frame)',
    async run(healthy, failing) {
      const { b, key } = await waitingWithHeldFrame(healthy);
      return () =>
        failing.connect(event('$connect', b, relayQuery('B', 'A', key)), invocation(BUDGET_MS));
    },
  },
  {
    route: '$default (a frame on a paired relay socket)',
    async run(healthy, failing) {
      const { a } = await pairedRelay(healthy);
      return () => failing.message(event('$default', a, { body: 'f1' }), invocation(BUDGET_MS));
    },
  },
  {
    route: '$default (a Join introduced to three peers)',
    async run(healthy, failing) {
      const key = id('doc');
      const peers = [id('p0'), id('p1'), id('p2'), id('p3')];
      for (const peer of peers) {
        const query = { queryStringParameters: { type: 'introduction', localId: peer } };
        await ok(healthy.connect(event('$connect', peer, query), healthyTime()));
      }
      const join = JSON.stringify({ type: 'Join', join: [key] });
      for (const peer of peers.slice(1))
        await ok(healthy.message(event('$default', peer, { body: join }), healthyTime()));
      return () =>
        failing.message(event('$default', peers[0]!, { body: join }), invocation(BUDGET_MS));
    },
  },
  {
    route: '$disconnect (a paired relay socket cut by the platform)',
    async run(healthy, failing) {
      const { a } = await pairedRelay(healthy);
      return () =>
        failing.disconnect(
          event('$disconnect', a, { disconnect: [1001, 'Going away'] }),
          invocation(BUDGET_MS),
        );
    },
  },
  {
    route: 'deliver (a held frame to a new peer)',
    async run(healthy, failing) {
      const { a, b, key } = await waitingWithHeldFrame(healthy);
      // The Lambda endpoint only acknowledges the invoke: the deliver job is run below.
      await ok(healthy.connect(event('$connect', b, relayQuery('B', 'A', key)), healthyTime()));
      const job = { from: a, to: b, pairedAt: Date.now() };
      return () => failing.deliver(job, invocation(BUDGET_MS));
    },
  },
];

describeEachBackend('invocation deadlines', (backend) => {
  const endpoints = new Map<Answer, AwsEndpoint>();
  let s: OpenStore;

  beforeAll(async () => {
    for (const answer of ['ok', 'throttle', 'silent'] as const)
      endpoints.set(answer, await startAwsEndpoint(answer));
  });
  afterAll(async () => {
    await Promise.all([...endpoints.values()].map((endpoint) => endpoint.close()));
  });
  beforeEach(async () => {
    s = await openStore(backend);
  });
  afterEach(() => s.close());

  const url = (answer: Answer) => endpoints.get(answer)!.url;
  const handlersAt = (at: Endpoints) =>
    lambdaHandlers(
      {
        tableName: s.tableName,
        managementEndpoint: at.management,
        deliverFunctionName: 'deliver-test',
        limits: DEFAULT_LIMITS,
        logLevel: 'error',
        stage: 'test',
      },
      { log: silentLogger },
      { ...LOCAL_AWS, dynamoDbEndpoint: at.dynamoDb, lambdaEndpoint: at.lambda },
      lambdaDeliveryInvoker,
    );

  const failures: { failing: string; answer: Exclude<Answer, 'ok' | 'hold'> }[] = [
    { failing: '@connections and Lambda', answer: 'throttle' },
    { failing: '@connections and Lambda', answer: 'silent' },
    { failing: 'DynamoDB', answer: 'throttle' },
    { failing: 'DynamoDB', answer: 'silent' },
  ];

  describe.each(failures)('while $failing answer: $answer', ({ failing, answer }) => {
    it('ends every route’s invocation before Lambda’s timeout', async () => {
      const healthy = handlersAt({
        management: url('ok'),
        dynamoDb: s.endpoint,
        lambda: url('ok'),
      });
      const bad = url(answer);
      const failingHandlers = handlersAt(
        failing === 'DynamoDB'
          ? { management: url('ok'), dynamoDb: bad, lambda: url('ok') }
          : { management: bad, dynamoDb: s.endpoint, lambda: bad },
      );
      const calls = [];
      for (const scenario of SCENARIOS)
        calls.push({ route: scenario.route, call: await scenario.run(healthy, failingHandlers) });

      // All at once: each has its own deadline, and the test takes one budget, not five.
      const durations = await Promise.all(
        calls.map(async ({ route, call }) => {
          const started = Date.now();
          await call().catch(() => undefined);
          return { route, ms: Date.now() - started };
        }),
      );

      for (const { route, ms } of durations)
        expect(ms, `${route} took ${ms} ms of its ${BUDGET_MS} ms`).toBeLessThan(BUDGET_MS);
    });
  });
});

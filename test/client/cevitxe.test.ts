/**
 * cevitxe-signal-client@0.4.2, unchanged, over SignalSocket: `globalThis.WebSocket =
 * signalSocket({ WebSocket: ws })` is the whole installation. Two clients meet through the local
 * gateway (under invocation jitter and a stage throttle) and exchange, both ways, a
 * multi-megabyte JSON snapshot, a burst of thousands of small messages and binary messages: all
 * arrive in order and exactly once.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Peer } from 'cevitxe-signal-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalSocket, type SignalSocket } from '../../client/index.js';
import type { GatewayOptions } from '../../local/gateway/index.js';
import { backends, startTestGateway, type Backend, type TestGateway } from '../support/gateway.js';
import { Endpoint, Ws, bytes } from '../support/signal-sockets.js';
import { stopClient } from '../support/cevitxe.js';

const globals = globalThis as { WebSocket?: unknown };

/** The relay socket the client opened for its first peer on `key`. */
function firstPeer(client: Client, key: string): Promise<SignalSocket> {
  return new Promise((resolve) =>
    client.once('peer', (peer: Peer) => resolve(peer.get(key) as unknown as SignalSocket)),
  );
}

/** A document snapshot as cevitxe sends it at first sync: one JSON text of several megabytes. */
function snapshot(who: string): string {
  const items = Array.from({ length: 30_000 }, (_, i) => ({
    id: `${who}-${i}`,
    title: `Item ${i} — «${who}» ✓ 🐟`,
    done: i % 3 === 0,
    tags: ['a', 'b', 'c'].slice(0, i % 4),
  }));
  return JSON.stringify({ type: 'snapshot', from: who, items });
}

function script(who: string): (string | Uint8Array)[] {
  return [
    snapshot(who),
    ...Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ type: 'change', from: who, i })),
    bytes(5_000, who.length),
    bytes(100_000, 7),
    JSON.stringify({ type: 'done', from: who }),
  ];
}

/** A paired relay socket each way, and what each end received. */
interface CevitxePair {
  key: string;
  toBob: SignalSocket;
  toAlice: SignalSocket;
  atAlice: Endpoint;
  atBob: Endpoint;
}

/**
 * Alice and Bob, two unchanged cevitxe clients, join `label`'s key and pair through the gateway;
 * `body` runs with their relay sockets, and both clients are stopped after it, whatever happens.
 */
async function withCevitxePair(
  gateway: TestGateway,
  label: string,
  body: (pair: CevitxePair) => Promise<void>,
): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const key = `${label}-${run}`;
  const alice = new Client({ id: `alice-${run}`, url: gateway.wsUrl('') });
  const bob = new Client({ id: `bob-${run}`, url: gateway.wsUrl('') });
  try {
    const sockets = Promise.all([firstPeer(alice, key), firstPeer(bob, key)]);
    alice.join(key);
    bob.join(key);
    const [toBob, toAlice] = await sockets;
    await body({ key, toBob, toAlice, atAlice: new Endpoint(toBob), atBob: new Endpoint(toAlice) });
  } finally {
    stopClient(alice);
    stopClient(bob);
    await gateway.settled();
  }
}

/**
 * A gateway for the describe block, with `globalThis.WebSocket` set to a SignalSocket class for
 * it (as an app installs the transport) and put back after.
 */
function cevitxeGateway(
  backend: Backend,
  socket: Parameters<typeof signalSocket>[0],
  options: GatewayOptions,
): () => TestGateway {
  let gateway: TestGateway | undefined;
  let previous: unknown;
  beforeAll(async () => {
    previous = globals.WebSocket;
    globals.WebSocket = signalSocket(socket);
    gateway = await startTestGateway(backend, options);
  });
  afterAll(async () => {
    await gateway?.close();
    globals.WebSocket = previous;
  });
  return () => gateway!;
}

describe.each(backends())('cevitxe-signal-client@0.4.2 over SignalSocket on $name', (backend) => {
  const gateway = cevitxeGateway(
    backend,
    { WebSocket: Ws, keepAliveMs: 1_000 },
    { invocationJitterMs: 5, throttle: { rate: 300, burst: 8 } },
  );

  it('moves a multi-megabyte snapshot, a burst of small messages and binary both ways, in order', async () => {
    await withCevitxePair(
      gateway(),
      'happy-raccoon',
      async ({ toBob, toAlice, atAlice, atBob }) => {
        const fromAlice = script('alice');
        const fromBob = script('bob');
        for (const message of fromAlice) toBob.send(message);
        for (const message of fromBob) toAlice.send(message);

        const [gotByBob, gotByAlice] = await Promise.all([
          atBob.until(fromAlice.length, 60_000),
          atAlice.until(fromBob.length, 60_000),
        ]);
        expect(gotByBob).toEqual(fromAlice);
        expect(gotByAlice).toEqual(fromBob);
        toBob.close();
        await Promise.all([atAlice.closed, atBob.closed]);
        expect(atBob.received).toHaveLength(fromAlice.length);
      },
    );
  }, 90_000);
});

describe.each(backends())(
  'cevitxe-signal-client@0.4.2 over SignalSocket across idle and maximum-duration cuts on $name',
  (backend) => {
    // No keep-alive within the idle timeout: idle cuts happen too, and are resumed.
    const gateway = cevitxeGateway(
      backend,
      { WebSocket: Ws, keepAliveMs: 60_000 },
      {
        invocationJitterMs: 5,
        throttle: { rate: 300, burst: 8 },
        idleTimeoutMs: 700,
        maxConnectionMs: 1_500,
      },
    );

    it('keeps the pair: messages before, during and after the cuts arrive once, in order, and no close', async () => {
      await withCevitxePair(
        gateway(),
        'hairy-thumb',
        async ({ key, toBob, toAlice, atAlice, atBob }) => {
          const sent: (string | Uint8Array)[] = [];
          const send = (message: string | Uint8Array) => {
            sent.push(message);
            toBob.send(message);
            toAlice.send(message);
          };
          send(snapshot('first').slice(0, 300_000));
          // Streaming through maximum-duration cuts, then idle past the idle timeout.
          for (let i = 0; i < 40; i++) {
            send(JSON.stringify({ type: 'change', i }));
            if (i % 10 === 0) send(bytes(2_000, i));
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          await atBob.until(sent.length, 30_000);
          await new Promise((resolve) => setTimeout(resolve, 1_600));
          send('after the idle cut');
          expect(await atBob.until(sent.length, 30_000)).toEqual(sent);
          expect(await atAlice.until(sent.length, 30_000)).toEqual(sent);
          // The relay sockets themselves were cut (not only the introduction sockets).
          const relays = new Set(
            gateway()
              .events.filter(
                (e) => e.route === 'connect' && e.event.queryStringParameters?.key === key,
              )
              .map((e) => e.event.requestContext.connectionId),
          );
          const cuts = gateway().events.filter(
            (e) =>
              e.route === 'disconnect' &&
              e.event.requestContext.disconnectStatusCode === 1001 &&
              relays.has(e.event.requestContext.connectionId),
          ).length;
          expect(cuts).toBeGreaterThanOrEqual(2);
          expect(toBob.readyState).toBe(toBob.OPEN);
          expect(toAlice.readyState).toBe(toAlice.OPEN);
          toBob.close();
          await Promise.all([atAlice.closed, atBob.closed]);
          expect(atBob.received).toHaveLength(sent.length);
        },
      );
    }, 60_000);
  },
);

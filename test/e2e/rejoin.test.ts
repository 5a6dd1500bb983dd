/**
 * The re-introduction budget never starves a client that reconnects: cevitxe-signal-client@0.4.2,
 * unchanged, reloaded under the same peer id while its old introduction socket's $disconnect is
 * still on its way (so its peer id still holds the key, and was introduced a moment ago), joins
 * the key again on its new socket and meets its peer again.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Peer } from 'cevitxe-signal-client';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Handlers } from '../../lambda/core/handlers.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { stopClient } from '../support/cevitxe.js';

const globals = globalThis as { WebSocket?: unknown };

/** Resolves with the first peer the client meets on `key` from now on. */
function nextPeer(client: Client, key: string): Promise<Peer> {
  return new Promise((resolve) => {
    const listener = (peer: Peer, met: string) => {
      if (met !== key) return;
      client.off('peer', listener);
      resolve(peer);
    };
    client.on('peer', listener);
  });
}

describe.each(backends())('a cevitxe client that reconnects on $name', (backend) => {
  let gateway: TestGateway;
  let clients: Client[] = [];
  let previousWebSocket: unknown;
  /** $disconnects held back until released: connection id → release. */
  const held = new Map<string, () => void>();
  let holdIntroductionsOf: string | undefined;
  const introductionSockets = new Set<string>();
  let onHeld: (() => void) | undefined;

  /** Holds back the $disconnect of the introduction socket of `holdIntroductionsOf`. */
  const holding = (handlers: Handlers): Handlers => ({
    ...handlers,
    connect: async (event) => {
      const query = event.queryStringParameters;
      if (query?.type === 'introduction' && query.localId === holdIntroductionsOf)
        introductionSockets.add(event.requestContext.connectionId);
      return handlers.connect(event);
    },
    disconnect: async (event) => {
      const { connectionId } = event.requestContext;
      if (holdIntroductionsOf !== undefined && introductionSockets.has(connectionId))
        await new Promise<void>((release) => {
          held.set(connectionId, release);
          onHeld?.();
        });
      return handlers.disconnect(event);
    },
  });

  beforeAll(async () => {
    previousWebSocket = globals.WebSocket;
    globals.WebSocket = WebSocket;
    gateway = await startTestGateway(backend, { wrapHandlers: holding });
  });
  afterAll(async () => {
    await gateway.close();
    globals.WebSocket = previousWebSocket;
  });
  afterEach(async () => {
    holdIntroductionsOf = undefined;
    for (const release of held.values()) release();
    held.clear();
    clients.forEach(stopClient);
    clients = [];
    await gateway.settled();
  });

  const client = (id: string) => {
    const created = new Client({ id, url: gateway.wsUrl('') });
    clients.push(created);
    return created;
  };

  it('meets its peer again when it rejoins a key its peer id still holds, a moment after its first Join', async () => {
    const run = randomUUID().slice(0, 8);
    const key = `happy-raccoon-${run}`;
    const alice = client(`alice-${run}`);
    const bob = client(`bob-${run}`);
    holdIntroductionsOf = bob.id;
    const first = Promise.all([nextPeer(alice, key), nextPeer(bob, key)]);
    alice.join(key);
    bob.join(key);
    const [bobAtAlice] = await first;

    // Bob reloads: his relay socket closes (so Alice's does too), and his old introduction
    // socket's $disconnect is late: his peer id still holds the key.
    const aliceRelay = bobAtAlice.get(key) as unknown as WebSocket;
    const aliceRelayClosed = new Promise((done) => aliceRelay.addEventListener('close', done));
    const disconnectHeld = new Promise<void>((done) => (onHeld = done));
    stopClient(bob);
    await Promise.all([aliceRelayClosed, disconnectHeld]);

    const reloaded = client(bob.id);
    const again = Promise.all([nextPeer(alice, key), nextPeer(reloaded, key)]);
    reloaded.join(key);
    const [bobAgain, aliceAgain] = await again;
    expect([bobAgain.id, aliceAgain.id]).toEqual([bob.id, alice.id]);
    // All the while the old socket's $disconnect was held back.
    expect(held.size).toBe(1);
  }, 30_000);
});

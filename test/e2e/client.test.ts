/**
 * The published client, unchanged: cevitxe-signal-client@0.4.2 finds its peers through the
 * local gateway's path-form URLs and exchanges messages with them over relay sockets.
 *
 * The client was written for browsers: it uses the global WebSocket, which Node 20 lacks, so
 * the suite installs `ws` there. Nothing else is adapted; teardown only detaches the client's
 * reconnect handler (it would reconnect forever otherwise) before closing its sockets.
 */
import { randomUUID } from 'node:crypto';
import { Client, type Peer } from 'cevitxe-signal-client';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { stopClient } from '../support/cevitxe.js';

const globals = globalThis as { WebSocket?: unknown };

interface Met {
  peer: Peer;
  key: string;
}

/** Resolves with the first `count` peers the client meets ('peer' events). */
function meet(client: Client, count: number): Promise<Met[]> {
  return new Promise((resolve) => {
    const met: Met[] = [];
    client.on('peer', (peer: Peer, key: string) => {
      met.push({ peer, key });
      if (met.length === count) resolve(met);
    });
  });
}

/** The next message on a relay socket the client handed out. */
function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    socket.onmessage = ({ data }) => resolve(typeof data === 'string' ? data : '(not text)');
  });
}

describe.each(backends())(
  'cevitxe-signal-client@0.4.2 through the local gateway on $name',
  (backend) => {
    let gateway: TestGateway;
    let clients: Client[] = [];
    let previousWebSocket: unknown;

    beforeAll(async () => {
      previousWebSocket = globals.WebSocket;
      globals.WebSocket = WebSocket;
      gateway = await startTestGateway(backend);
    });
    afterAll(async () => {
      await gateway.close();
      globals.WebSocket = previousWebSocket;
    });
    afterEach(async () => {
      clients.forEach(stopClient);
      clients = [];
      await gateway.settled();
    });

    /** A client pointed at the gateway's root: it appends /introduction/… and /connection/…. */
    const client = (id: string) => {
      const created = new Client({ id, url: gateway.wsUrl('') });
      clients.push(created);
      return created;
    };

    it('lets two clients that join one key meet and exchange messages', async () => {
      const run = randomUUID().slice(0, 8);
      const key = `happy-raccoon-${run}`;
      const alice = client(`alice-${run}`);
      const bob = client(`bob-${run}`);
      const aliceMet = meet(alice, 1);
      const bobMet = meet(bob, 1);
      alice.join(key);
      bob.join(key);

      const [[forAlice], [forBob]] = await Promise.all([aliceMet, bobMet]);
      expect(forAlice).toMatchObject({ peer: { id: bob.id }, key });
      expect(forBob).toMatchObject({ peer: { id: alice.id }, key });

      const aliceSocket = forAlice!.peer.get(key) as unknown as WebSocket;
      const bobSocket = forBob!.peer.get(key) as unknown as WebSocket;
      const toBob = nextMessage(bobSocket);
      aliceSocket.send('hello from alice');
      expect(await toBob).toBe('hello from alice');
      const toAlice = nextMessage(aliceSocket);
      bobSocket.send('hello from bob');
      expect(await toAlice).toBe('hello from bob');
    });

    it('lets three clients on one key each meet both others and talk to each', async () => {
      const run = randomUUID().slice(0, 8);
      const key = `hairy-thumb-${run}`;
      const names = ['alice', 'bob', 'carol'];
      const everyone = names.map((name) => client(`${name}-${run}`));
      const meetings = everyone.map((each) => meet(each, 2));
      for (const each of everyone) each.join(key);
      const met = await Promise.all(meetings);

      met.forEach((peers, i) => {
        const others = everyone.filter((_, j) => j !== i).map((other) => other.id);
        expect(peers.map(({ peer }) => peer.id).sort()).toEqual(others.sort());
      });

      // Every client sends to each peer it met; every client hears from both others.
      const heard = met.map((peers) =>
        Promise.all(peers.map(({ peer }) => nextMessage(peer.get(key) as unknown as WebSocket))),
      );
      met.forEach((peers, i) => {
        for (const { peer } of peers)
          (peer.get(key) as unknown as WebSocket).send(`${everyone[i]!.id} to ${peer.id}`);
      });
      const received = await Promise.all(heard);
      received.forEach((messages, i) => {
        const me = everyone[i]!.id;
        const expected = everyone.filter((_, j) => j !== i).map((other) => `${other.id} to ${me}`);
        expect([...messages].sort()).toEqual(expected.sort());
      });
    });
  },
);

/**
 * One local gateway per describe block, as the end-to-end suites share it: started before the
 * block and closed after it; after each test its sockets are closed and its handlers settled;
 * names are unique per test, so that tests sharing the gateway never meet.
 *
 *   describe.each(backends())('… on $name', (backend) => {
 *     const suite = gatewaySuite(backend, { limits });
 *     const { name, open, quiet } = suite;
 *     it('…', async () => { const a = await open(`/introduction/${name('A')}`); … });
 *   });
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { GatewayOptions } from '../../local/gateway/index.js';
import { startTestGateway, type Backend, type TestGateway } from './gateway.js';
import { TestSocket } from '../../testing/socket.js';

export interface GatewaySuite {
  /** The block's gateway, from its beforeAll on. */
  readonly gateway: TestGateway;
  /** `label`, made unique to the running test. */
  readonly name: (label: string) => string;
  /** Opens a socket on the gateway, closed after the test. */
  readonly open: (path: string) => Promise<TestSocket>;
  /** Closes these sockets after the test too (opened some other way). */
  readonly track: (...sockets: TestSocket[]) => void;
  /** Waits until nothing is in flight: the peers' frames arrived and no handler runs. */
  readonly quiet: (...peers: TestSocket[]) => Promise<void>;
}

export function gatewaySuite(backend: Backend, options?: GatewayOptions): GatewaySuite {
  let started: TestGateway | undefined;
  let sockets: TestSocket[] = [];
  let run = '';

  beforeAll(async () => {
    started = await startTestGateway(backend, options);
  });
  afterAll(() => started?.close());
  beforeEach(() => {
    run = randomUUID().slice(0, 8);
  });
  afterEach(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    sockets = [];
    await started?.settled();
  });

  const suite: GatewaySuite = {
    get gateway() {
      if (!started) throw new Error('the suite’s gateway starts in beforeAll');
      return started;
    },
    name: (label) => `${label}-${run}`,
    open: async (path) => {
      const socket = await TestSocket.open(suite.gateway.wsUrl(path));
      sockets.push(socket);
      return socket;
    },
    track: (...more) => {
      sockets.push(...more);
    },
    quiet: async (...peers) => {
      await Promise.all(peers.map((peer) => peer.sync()));
      await suite.gateway.settled();
      await Promise.all(peers.map((peer) => peer.sync()));
    },
  };
  return suite;
}

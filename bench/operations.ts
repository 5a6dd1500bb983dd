/**
 * AWS calls per protocol operation, counted at the SDK on the real clients (sdk-calls.ts), each
 * beside its floor (floors.ts).
 *
 * Every operation is isolated: the gateway is quiescent before (no handler running, counts
 * steady), the operation runs and everything it sets off finishes (deferred deliveries, the
 * peer's $disconnect), then the counts are read again.
 */
import { randomBytes } from 'node:crypto';
import { KEEP_ALIVE_FRAME } from '../lambda/core/protocol.js';
import type { Gateway } from '../local/gateway/index.js';
import type { TestSocket } from '../test/support/socket.js';
import { openSocket } from './client.js';
import { compare, FLOORS, JOIN_POINTS, MODEL_JOIN, reasonsFor, type Floor } from './floors.js';
import {
  addStats,
  callsOf,
  difference,
  emptyStats,
  type CallStats,
  type Route,
  type SdkCallCounter,
  type Tally,
} from './sdk-calls.js';
import { median, query, sleep } from './stats.js';

export { JOIN_POINTS, MODEL_JOIN } from './floors.js';

export interface OperationResult {
  readonly id: string;
  readonly name: string;
  /** What the counts are per, e.g. "per frame (mean of 20)". */
  readonly per: string;
  readonly measured: Tally;
  readonly floor: Floor;
  /** measured − floor, by kind of call; empty at the floor. */
  readonly excess: Record<string, number>;
  /** Why the code is above its floor, when it is. */
  readonly reason?: string;
  /** Local handler time of the invocations involved (median ms), by route. */
  readonly localMs: Partial<Record<Route, number>>;
  /** Handler invocations per operation, by route. */
  readonly invocations: Partial<Record<Route, number>>;
  /** AWS calls in all, every service (for the cost model's Lambda duration). */
  readonly calls: number;
}

export interface OperationsRun {
  results: OperationResult[];
  byId(id: string): OperationResult;
}

const ROUTES: readonly Route[] = ['$connect', '$default', '$disconnect', 'deliver'];

interface Window {
  before: Map<Route, Tally>;
  after: Map<Route, Tally>;
  invocations: { route: Route; ms: number }[];
}

/** Runs actions between quiescent points of the gateway and records what each cost. */
class Observer {
  readonly run = randomBytes(3).toString('hex');
  readonly results: OperationResult[] = [];

  constructor(
    private readonly gateway: Gateway,
    private readonly counter: SdkCallCounter,
  ) {}

  introUrl(peer: string): string {
    return `${this.gateway.wsUrl()}?${query({ type: 'introduction', localId: `${this.run}-${peer}` })}`;
  }

  relayUrl(local: string, remote: string, key: string): string {
    return `${this.gateway.wsUrl()}?${query({
      type: 'connection',
      localId: `${this.run}-${local}`,
      remoteId: `${this.run}-${remote}`,
      key: `${this.run}-${key}`,
    })}`;
  }

  /** Waits until no handler runs and the counts stay put for a moment. */
  async quiesce(): Promise<void> {
    for (;;) {
      await this.gateway.settled();
      const before = this.counter.total();
      await sleep(40);
      await this.gateway.settled();
      if (this.counter.total() === before) return;
    }
  }

  /** Resolves once the handler invocations since `from` include `expected` of each route. */
  async invoked(from: number, expected: Partial<Record<Route, number>>): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const since = this.counter.invocations.slice(from);
      const missing = Object.entries(expected).filter(
        ([route, n]) => since.filter((one) => one.route === route).length < n,
      );
      if (missing.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`waited 30 s for ${missing.map(([r, n]) => `${n} ${r}`).join(', ')}`);
      await sleep(5);
    }
  }

  /**
   * Runs an action between two quiescent points and returns what it cost, by route. The action
   * is over once the handler invocations it sets off (`expected`) have run and all is quiet.
   */
  async observe(
    action: () => Promise<unknown>,
    expected: Partial<Record<Route, number>>,
  ): Promise<Window> {
    await this.quiesce();
    const before = snapshotByRoute(this.counter);
    const firstInvocation = this.counter.invocations.length;
    await action();
    await this.invoked(firstInvocation, expected);
    await this.quiesce();
    return {
      before,
      after: snapshotByRoute(this.counter),
      invocations: this.counter.invocations.slice(firstInvocation),
    };
  }

  /** Closes sockets outside any measurement and waits for their $disconnects. */
  async closeAll(sockets: TestSocket[]): Promise<void> {
    const from = this.counter.invocations.length;
    await Promise.all(sockets.map((socket) => socket.close(1000)));
    await this.invoked(from, { $disconnect: sockets.length });
  }

  record(
    id: string,
    name: string,
    expected: Floor,
    window: Window,
    options: { per?: number; perLabel?: string; routes?: readonly Route[] } = {},
  ): OperationResult {
    const per = options.per ?? 1;
    const routes = options.routes ?? ROUTES;
    const measured = difference(merge(window.after, routes), merge(window.before, routes), per);
    const ran = window.invocations.filter((one) => routes.includes(one.route));
    const localMs: Partial<Record<Route, number>> = {};
    const invocations: Partial<Record<Route, number>> = {};
    for (const route of new Set(ran.map((one) => one.route))) {
      const times = ran.filter((one) => one.route === route).map((one) => one.ms);
      localMs[route] = median(times);
      invocations[route] = times.length / per;
    }
    const excess = compare(measured, expected);
    const result: OperationResult = {
      id,
      name,
      per: options.perLabel ?? 'per operation',
      measured,
      floor: expected,
      excess,
      ...(reasonsFor(id, excess) ? { reason: reasonsFor(id, excess) } : {}),
      localMs,
      invocations,
      calls: callsOf(measured),
    };
    this.results.push(result);
    return result;
  }
}

/** An introduction socket's $connect and keep-alive. */
async function measureIntroduction(o: Observer): Promise<void> {
  // ---- introduction: $connect, Joins at several (k, m), a Leave, a disconnect -------------------

  let solo: TestSocket | undefined;
  o.record(
    'introductionConnect',
    'introduction $connect',
    FLOORS.introductionConnect,
    await o.observe(async () => (solo = await openSocket(o.introUrl('solo'))), { $connect: 1 }),
  );
  o.record(
    'introductionKeepAlive',
    'introduction keep-alive (`{"type":"KeepAlive"}`, answered with nothing)',
    FLOORS.introductionKeepAlive,
    await o.observe(() => Promise.resolve(solo!.send(KEEP_ALIVE_FRAME)), { $default: 1 }),
  );
  await o.closeAll([solo!]);
}

/** Joins at several (k, m), a Leave, and an introduction socket's disconnect. */
async function measureJoins(o: Observer): Promise<void> {
  for (const [k, m] of JOIN_POINTS) {
    const point = `j${k}x${m}`;
    const keys = Array.from({ length: k }, (_, i) => `${o.run}-${point}-key${i}`);
    // m peers, peer i holding key i mod k (with m <= k no two share a key: no introductions yet).
    const peers: TestSocket[] = [];
    for (let i = 0; i < m; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, m - i) }, (_, j) =>
          openSocket(o.introUrl(`${point}-peer${i + j}`)),
        ),
      );
      batch.forEach((peer, j) => peer.send({ type: 'Join', join: [keys[(i + j) % k]] }));
      peers.push(...batch);
    }
    const joiner = await openSocket(o.introUrl(`${point}-joiner`));
    o.record(
      `join:${k}:${m}`,
      `Join of ${k} key${k === 1 ? '' : 's'} meeting ${m} peer${m === 1 ? '' : 's'} (k=${k}, m=${m})`,
      FLOORS.join(k, m),
      await o.observe(
        async () => {
          joiner.send({ type: 'Join', join: keys });
          await joiner.take(m, 30_000);
        },
        { $default: 1 },
      ),
    );
    if (k === 1 && m === 1)
      o.record(
        'leave',
        'Leave (1 key)',
        FLOORS.leave(1),
        await o.observe(() => Promise.resolve(joiner.send({ type: 'Leave', leave: keys })), {
          $default: 1,
        }),
      );
    if (k === MODEL_JOIN.k && m === MODEL_JOIN.m)
      o.record(
        'introductionDisconnect',
        `disconnect, introduction socket (its peer's last; ${k} keys)`,
        FLOORS.introductionDisconnect(k),
        await o.observe(() => joiner.close(1000), { $disconnect: 1 }),
      );
    await o.closeAll(peers);
    if (joiner.ws.readyState !== joiner.ws.CLOSED) await o.closeAll([joiner]);
  }
}

/** A relay pair: waiting, pairing, first frame, steady frames, disconnect. */
async function measurePair(o: Observer): Promise<void> {
  // ---- relay: waiting, pairing, first frame, steady frames, disconnect ------------------------

  let first: TestSocket | undefined;
  let second: TestSocket | undefined;
  o.record(
    'relayWaits',
    'relay $connect, first socket (waits)',
    FLOORS.relayWaits,
    await o.observe(async () => (first = await openSocket(o.relayUrl('a', 'b', 'pair'))), {
      $connect: 1,
    }),
  );
  o.record(
    'pairing',
    'pairing ($connect of the second socket, nothing held)',
    FLOORS.pairing,
    await o.observe(async () => (second = await openSocket(o.relayUrl('b', 'a', 'pair'))), {
      $connect: 1,
    }),
  );
  const [a, b] = [first!, second!];
  o.record(
    'firstFrame',
    'first frame of a socket (cache miss)',
    FLOORS.firstFrame,
    await o.observe(
      async () => {
        a.send('frame 0');
        await b.take(1);
      },
      { $default: 1 },
    ),
  );
  const STEADY = 20;
  o.record(
    'steadyFrame',
    'steady-state relayed frame',
    FLOORS.steadyFrame,
    await o.observe(
      async () => {
        for (let i = 1; i <= STEADY; i++) {
          a.send(`frame ${i}`);
          await b.take(1);
        }
      },
      { $default: STEADY },
    ),
    { per: STEADY, perLabel: `per frame (mean of ${STEADY})` },
  );
  o.record(
    'relayDisconnect',
    'disconnect, relay pair (one side closes, the server closes the other)',
    FLOORS.relayDisconnect,
    await o.observe(
      async () => {
        await a.close(1000);
        await b.closed;
      },
      { $disconnect: 2 },
    ),
  );
}

/** Frames held before the peer arrives, their delivery, and a waiting socket's disconnect. */
async function measureHeld(o: Observer): Promise<void> {
  // ---- held frames: sent before the peer arrives, then delivered ------------------------------

  const HELD = 5;
  const waiting = await openSocket(o.relayUrl('c', 'd', 'held'));
  o.record(
    'heldFrame',
    'held frame (sent before the peer arrives)',
    FLOORS.heldFrame,
    await o.observe(
      async () => {
        for (let i = 0; i < HELD; i++) waiting.send(`held ${i}`);
        await Promise.resolve();
      },
      { $default: HELD },
    ),
    { per: HELD, perLabel: `per frame (mean of ${HELD})` },
  );
  let late: TestSocket | undefined;
  const arrival = await o.observe(
    async () => {
      late = await openSocket(o.relayUrl('d', 'c', 'held'));
      await late.take(HELD);
    },
    { $connect: 1, deliver: 1 },
  );
  o.record(
    'pairingWithHeld',
    `pairing with ${HELD} frames held ($connect)`,
    FLOORS.pairingWithHeld,
    arrival,
    { routes: ['$connect'] },
  );
  o.record(
    'delivery',
    `held-frame delivery (deliver function, ${HELD} frames)`,
    FLOORS.delivery(HELD),
    arrival,
    { routes: ['deliver'] },
  );
  await o.closeAll([waiting, late!]);

  const alone = await openSocket(o.relayUrl('g', 'h', 'alone'));
  o.record(
    'waitingDisconnect',
    'disconnect, waiting relay socket',
    FLOORS.waitingDisconnect,
    await o.observe(() => alone.close(1000), { $disconnect: 1 }),
  );
  await o.quiesce();
}

export async function measureOperations(
  gateway: Gateway,
  counter: SdkCallCounter,
): Promise<OperationsRun> {
  const o = new Observer(gateway, counter);
  await measureIntroduction(o);
  await measureJoins(o);
  await measurePair(o);
  await measureHeld(o);
  const { results } = o;
  return {
    results,
    byId(id) {
      const found = results.find((result) => result.id === id);
      if (!found) throw new Error(`no operation ${id}`);
      return found;
    },
  };
}

function snapshotByRoute(counter: SdkCallCounter): Map<Route, Tally> {
  return new Map(ROUTES.map((route) => [route, counter.snapshot(route)]));
}

/** One tally of the given routes' calls. */
function merge(byRoute: Map<Route, Tally>, routes: readonly Route[]): Tally {
  const out: Tally = new Map();
  for (const route of routes)
    for (const [key, stats] of byRoute.get(route) ?? new Map<string, CallStats>()) {
      const sum = out.get(key) ?? emptyStats();
      addStats(sum, stats);
      out.set(key, sum);
    }
  return out;
}

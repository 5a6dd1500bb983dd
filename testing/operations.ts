/**
 * Every protocol operation, run once (or a few times, for a mean) through the local gateway, with
 * the AWS calls each made counted at the SDK (sdk-calls.ts): what the calls-per-operation test
 * checks against the floors, and what the bench's cost model prices.
 *
 * Every operation is isolated: the gateway is quiescent before (no handler running, counts
 * steady), the operation runs and everything it sets off finishes (deferred deliveries, the
 * peer's $disconnect), then the counts are read again (observer.ts).
 */
import { randomBytes } from 'node:crypto';
import { KEEP_ALIVE_FRAME } from '../lambda/core/protocol.js';
import type { Gateway } from '../local/gateway/index.js';
import { Observer, type OperationResult } from './observer.js';
import type { SdkCallCounter } from './sdk-calls.js';

export type { OperationResult } from './observer.js';

/** What the operations need of a client socket: the tests' and the bench's socket has it. */
export interface Socket {
  send(data: string | object): void;
  /** The next `count` frames received, within `ms`. */
  take(count: number, ms?: number): Promise<unknown>;
  close(code: number): Promise<unknown>;
  readonly closed: Promise<unknown>;
  readonly isOpen: boolean;
}

/** Opens a socket to a URL of the gateway, resolving once it is open. */
export type OpenSocket = (url: string) => Promise<Socket>;

export interface OperationsRun {
  results: OperationResult[];
  byId(id: string): OperationResult;
}

/**
 * The Joins measured, as (k keys, m matching peers), each peer on a key of its own; 26 keys take
 * two index writes (25 a batch). No point passes 100 peers (one read a batch): its hundred sockets
 * would take most of the run.
 */
export const JOIN_POINTS: readonly (readonly [k: number, m: number])[] = [
  [1, 0],
  [1, 1],
  [10, 5],
  [26, 2],
];

/** Frames sent before the peer arrives, then delivered. */
export const HELD_FRAMES = 5;

/** The Join the cost model uses, and the introduction socket it closes. */
export const MODEL_JOIN = { k: 10, m: 5 } as const;

/** An Observer that opens sockets with this run's own ids, so that runs never meet. */
class Run extends Observer {
  readonly id = randomBytes(3).toString('hex');

  constructor(
    gateway: Gateway,
    counter: SdkCallCounter,
    readonly open: OpenSocket,
  ) {
    super(gateway, counter);
  }

  intro(peer: string): Promise<Socket> {
    return this.open(this.url({ type: 'introduction', localId: `${this.id}-${peer}` }));
  }

  relay(local: string, remote: string, key: string): Promise<Socket> {
    return this.open(
      this.url({
        type: 'connection',
        localId: `${this.id}-${local}`,
        remoteId: `${this.id}-${remote}`,
        key: `${this.id}-${key}`,
      }),
    );
  }

  private url(params: Record<string, string>): string {
    return `${this.gateway.wsUrl()}?${new URLSearchParams(params).toString()}`;
  }
}

/** An introduction socket's $connect and keep-alive. */
async function measureIntroduction(o: Run): Promise<void> {
  let solo: Socket | undefined;
  o.record(
    'introductionConnect',
    'introduction $connect',
    await o.observe(async () => (solo = await o.intro('solo')), { $connect: 1 }),
  );
  o.record(
    'introductionKeepAlive',
    'introduction keep-alive (`{"type":"KeepAlive"}`, answered with nothing)',
    await o.observe(() => Promise.resolve(solo!.send(KEEP_ALIVE_FRAME)), { $default: 1 }),
  );
  await o.closeAll([solo!]);
}

/** Joins at several (k, m), a Leave, and an introduction socket's disconnect. */
async function measureJoins(o: Run): Promise<void> {
  for (const [k, m] of JOIN_POINTS) {
    const point = `j${k}x${m}`;
    const keys = Array.from({ length: k }, (_, i) => `${o.id}-${point}-key${i}`);
    // m peers, peer i holding key i mod k (with m <= k no two share a key: no introductions yet).
    const peers: Socket[] = [];
    for (let i = 0; i < m; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, m - i) }, (_, j) => o.intro(`${point}-peer${i + j}`)),
      );
      batch.forEach((peer, j) => peer.send({ type: 'Join', join: [keys[(i + j) % k]] }));
      peers.push(...batch);
    }
    const joiner = await o.intro(`${point}-joiner`);
    o.record(
      `join:${k}:${m}`,
      `Join of ${k} key${k === 1 ? '' : 's'} meeting ${m} peer${m === 1 ? '' : 's'} (k=${k}, m=${m})`,
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
        await o.observe(() => Promise.resolve(joiner.send({ type: 'Leave', leave: keys })), {
          $default: 1,
        }),
      );
    if (k === MODEL_JOIN.k && m === MODEL_JOIN.m)
      o.record(
        'introductionDisconnect',
        `disconnect, introduction socket (its peer's last; ${k} keys)`,
        await o.observe(() => joiner.close(1000), { $disconnect: 1 }),
      );
    await o.closeAll(peers);
    if (joiner.isOpen) await o.closeAll([joiner]);
  }
}

/** A relay pair: waiting, pairing, first frame, steady frames, disconnect. */
async function measurePair(o: Run): Promise<void> {
  let first: Socket | undefined;
  let second: Socket | undefined;
  o.record(
    'relayWaits',
    'relay $connect, first socket (waits)',
    await o.observe(async () => (first = await o.relay('a', 'b', 'pair')), {
      $connect: 1,
    }),
  );
  o.record(
    'pairing',
    'pairing ($connect of the second socket, nothing held)',
    await o.observe(async () => (second = await o.relay('b', 'a', 'pair')), {
      $connect: 1,
    }),
  );
  const [a, b] = [first!, second!];
  o.record(
    'firstFrame',
    'first frame of a socket (cache miss)',
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
async function measureHeld(o: Run): Promise<void> {
  const waiting = await o.relay('c', 'd', 'held');
  o.record(
    'heldFrame',
    'held frame (sent before the peer arrives)',
    await o.observe(
      async () => {
        for (let i = 0; i < HELD_FRAMES; i++) waiting.send(`held ${i}`);
        await Promise.resolve();
      },
      { $default: HELD_FRAMES },
    ),
    { per: HELD_FRAMES, perLabel: `per frame (mean of ${HELD_FRAMES})` },
  );
  let late: Socket | undefined;
  const arrival = await o.observe(
    async () => {
      late = await o.relay('d', 'c', 'held');
      await late.take(HELD_FRAMES);
    },
    { $connect: 1, deliver: 1 },
  );
  o.record('pairingWithHeld', `pairing with ${HELD_FRAMES} frames held ($connect)`, arrival, {
    routes: ['$connect'],
  });
  o.record('delivery', `held-frame delivery (deliver function, ${HELD_FRAMES} frames)`, arrival, {
    routes: ['deliver'],
  });
  await o.closeAll([waiting, late!]);

  const alone = await o.relay('g', 'h', 'alone');
  o.record(
    'waitingDisconnect',
    'disconnect, waiting relay socket',
    await o.observe(() => alone.close(1000), { $disconnect: 1 }),
  );
  await o.quiesce();
}

/** Measures every operation, one after another, through a gateway whose clients `counter` counts. */
export async function measureOperations(
  gateway: Gateway,
  counter: SdkCallCounter,
  open: OpenSocket,
): Promise<OperationsRun> {
  const o = new Run(gateway, counter, open);
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

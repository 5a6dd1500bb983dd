/**
 * AWS calls per protocol operation: each operation, run alone through the local gateway on
 * dynalite and counted at the SDK on the real clients (testing/operations.ts), makes exactly its
 * floor (the fewest calls it needs in this design) plus the calls listed above it here, each with
 * its reason. The reasoning behind the floors and the reasons is in docs/performance.md, "AWS
 * calls per operation".
 *
 * When a handler changes what it calls, this table is the one place to update.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../local/gateway/index.js';
import {
  HELD_FRAMES,
  JOIN_POINTS,
  MODEL_JOIN,
  measureOperations,
  type OperationsRun,
} from '../../testing/operations.js';
import { FUNCTION_GRANTS, type FunctionGrants } from '../../lib/grants.js';
import { SdkCallCounter, type Route, type Tally } from '../../testing/sdk-calls.js';
import { TestSocket } from '../../testing/socket.js';

/** Calls by `${service} ${command}`. */
type Calls = Readonly<Record<string, number>>;

/** Calls the code makes above the floor, of one kind: how many (per operation), and why. */
interface Above {
  /** A number, or the number this run's counts imply (for calls a race decides). */
  readonly calls: number | ((measured: Tally) => number);
  readonly why: string;
}

/** What an operation may call: its floor, and the calls above it, each with its reason. */
interface Expected {
  readonly floor: Calls;
  /** Why the floor is what it is, in a line. */
  readonly why: string;
  readonly above?: Readonly<Record<string, Above>>;
}

/** A post answered 410 because its socket was still inside $connect: one per retry. */
const gonePosts = (measured: Tally) =>
  measured.get('@connections PostToConnection')?.failed.GoneException ?? 0;

const join = (k: number, m: number): Expected => ({
  why: "read the socket record (for the peer id), read and write the peer record (its key set), index the keys (25 a batch), query each key, spend the stage's introduction budget (one write, when it meets anyone), read the matching peers (100 a batch), introduce each pair both ways",
  floor: {
    'DynamoDB GetItem': 2,
    'DynamoDB UpdateItem': m > 0 ? 2 : 1,
    'DynamoDB BatchWriteItem': Math.ceil(k / 25),
    'DynamoDB Query': k,
    'DynamoDB BatchGetItem': Math.ceil(m / 100),
    '@connections PostToConnection': 2 * m,
  },
});

/** Every operation the harness measures, by its id. `k` keys, `m` matching peers, `h` held frames. */
const EXPECTED: Record<string, Expected> = {
  introductionConnect: {
    why: "record the socket; make it its peer id's current socket (one write of the peer record)",
    floor: { 'DynamoDB PutItem': 1, 'DynamoDB UpdateItem': 1 },
  },
  introductionKeepAlive: {
    why: 'only the socket record knows whether the text is a keep-alive (introduction) or an app frame (relay): one read; no write, no post',
    floor: { 'DynamoDB GetItem': 1 },
  },
  ...Object.fromEntries(JOIN_POINTS.map(([k, m]) => [`join:${k}:${m}`, join(k, m)])),
  leave: {
    why: "read the socket record, read and write the peer record, delete the left key's index entry (conditional on the key-set version: not batchable)",
    floor: { 'DynamoDB GetItem': 2, 'DynamoDB UpdateItem': 1, 'DynamoDB DeleteItem': 1 },
  },
  introductionDisconnect: {
    why: "delete the socket record, the peer record (its last socket gone) and its k index entries (each conditional on the peer's session: not batchable)",
    floor: { 'DynamoDB DeleteItem': 2 + MODEL_JOIN.k },
    above: {
      'DynamoDB UpdateItem': {
        calls: 1,
        why: "the socket leaves its peer's socket set before the peer record is deleted",
      },
    },
  },
  relayWaits: {
    why: "record the socket; wait at the pair's rendezvous item",
    floor: { 'DynamoDB PutItem': 1, 'DynamoDB UpdateItem': 1 },
  },
  pairing: {
    why: 'claim the waiting socket at the rendezvous, check with API Gateway that it is still open, record this socket with its peer, give the waiting socket its peer and (nothing held) its direct path',
    floor: {
      'DynamoDB DeleteItem': 1,
      'DynamoDB PutItem': 1,
      'DynamoDB UpdateItem': 1,
      '@connections GetConnection': 1,
    },
    above: {
      'DynamoDB UpdateItem': {
        calls: 3,
        why: 'the rendezvous tries to wait before it claims (one write fails), the socket is recorded before it meets, and the waiting socket gets its peer and its direct path in two writes',
      },
    },
  },
  firstFrame: {
    why: '$default events carry only the connection id: a function that has not seen the socket reads its record for the peer, then posts',
    floor: { 'DynamoDB GetItem': 1, '@connections PostToConnection': 1 },
  },
  steadyFrame: {
    why: 'a pair never changes, so a warm function remembers the peer: one post, no DynamoDB',
    floor: { '@connections PostToConnection': 1 },
  },
  relayDisconnect: {
    why: "delete each socket's record; each side's $disconnect closes the other (the second finds the first gone)",
    floor: { 'DynamoDB DeleteItem': 2, '@connections DeleteConnection': 2 },
    above: {
      'DynamoDB GetItem': {
        calls: 1,
        why: 'within 30 s of pairing a 410 may mean "still connecting", so the second side checks once that the first socket\'s record is gone',
      },
    },
  },
  heldFrame: {
    why: 'read the socket record (not paired yet), take a sequence number, write the frame as an item of its own',
    floor: { 'DynamoDB GetItem': 1, 'DynamoDB UpdateItem': 1, 'DynamoDB PutItem': 1 },
  },
  pairingWithHeld: {
    why: 'as a pairing, plus one asynchronous invoke of the deliver function: the new socket cannot be written to until its $connect returns',
    floor: {
      'DynamoDB DeleteItem': 1,
      'DynamoDB PutItem': 1,
      'DynamoDB UpdateItem': 1,
      '@connections GetConnection': 1,
      'Lambda Invoke': 1,
    },
    above: {
      'DynamoDB UpdateItem': {
        calls: 2,
        why: 'as for a pairing: the rendezvous tries to wait first (one write fails), and the socket is recorded before it meets',
      },
    },
  },
  delivery: {
    why: 'read the socket record, list its held frames (one query), claim them, post each, delete them (25 a batch), open the direct path',
    floor: {
      'DynamoDB GetItem': 1,
      'DynamoDB Query': 1,
      'DynamoDB UpdateItem': 2,
      '@connections PostToConnection': HELD_FRAMES,
      'DynamoDB BatchWriteItem': Math.ceil(HELD_FRAMES / 25),
    },
    above: {
      '@connections PostToConnection': {
        calls: gonePosts,
        why: "a post answered 410 because the deliverer started before the new socket's $connect returned, retried",
      },
      'DynamoDB GetItem': {
        calls: gonePosts,
        why: 'before each such retry, a read of the new socket record: is it still connecting?',
      },
    },
  },
  waitingDisconnect: {
    why: 'delete the socket record; withdraw it from the rendezvous',
    floor: { 'DynamoDB DeleteItem': 2 },
  },
};

const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;

/**
 * Where the measured calls depart from the floor plus the calls listed above it: one line for
 * each kind of call, naming the operation, the call, the measured count and the floor.
 */
function departures(id: string, measured: Tally, expected: Expected): string[] {
  const above = expected.above ?? {};
  const kinds = new Set([
    ...measured.keys(),
    ...Object.keys(expected.floor),
    ...Object.keys(above),
  ]);
  const out: string[] = [];
  for (const kind of [...kinds].sort()) {
    const n = measured.get(kind)?.calls ?? 0;
    const floor = expected.floor[kind] ?? 0;
    const extra = above[kind];
    const allowed =
      typeof extra?.calls === 'function' ? extra.calls(measured) : (extra?.calls ?? 0);
    if (near(n, floor + allowed)) continue;
    const listed = extra ? ` + ${allowed} above it ("${extra.why}")` : '';
    const where = `${id}: ${kind} measured ${n}, floor ${floor}${listed}`;
    if (n > floor + allowed)
      out.push(`${where}: ${n - floor - allowed} more with no reason listed in EXPECTED`);
    else if (n < floor) out.push(`${where}: below the floor, which EXPECTED must then lower`);
    else out.push(`${where}: fewer than listed above the floor, so EXPECTED must drop them`);
  }
  return out;
}

describe('AWS calls per protocol operation, through the local gateway on dynalite', () => {
  const counter = new SdkCallCounter();
  let gateway: Gateway;
  let run: OperationsRun;

  beforeAll(async () => {
    gateway = await startGateway({
      logLevel: 'error',
      instrumentClient: counter.instrument,
      wrapHandlers: counter.wrapHandlers,
    });
    run = await measureOperations(gateway, counter, (url) =>
      TestSocket.open(url, { within: 10_000, tagged: false }),
    );
  }, 120_000);
  afterAll(() => gateway?.close());

  it('measures each operation of the table, and only those', () => {
    expect(run.results.map((op) => op.id).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.keys(EXPECTED))(
    '%s makes its floor of calls, and above it only the calls listed with a reason',
    (id) => {
      expect(departures(id, run.byId(id).measured, EXPECTED[id]!)).toEqual([]);
    },
  );

  it('makes no call outside a handler', () => {
    const inHandlers = (['$connect', '$default', '$disconnect', 'deliver'] as const).reduce(
      (sum, route) => sum + counter.total(route),
      0,
    );
    expect(counter.total()).toBe(inHandlers);
  });

  // The local gateway checks no IAM: a call outside its function's grants would be denied on AWS.
  it.each(Object.entries(ROUTE_FUNCTION))(
    'calls from %s stay within the grants of its function (lib/grants.ts)',
    (route, fn) => {
      const outside = [...counter.snapshot(route as Route).keys()].filter(
        (call) => !granted(FUNCTION_GRANTS[fn], call, fn),
      );
      expect(outside).toEqual([]);
    },
  );
});

const ROUTE_FUNCTION = {
  $connect: 'connect',
  $default: 'default',
  $disconnect: 'disconnect',
  deliver: 'deliver',
} as const satisfies Record<Route, keyof typeof FUNCTION_GRANTS>;

const METHODS: Record<string, string> = {
  PostToConnection: 'POST',
  DeleteConnection: 'DELETE',
  GetConnection: 'GET',
};

/** Whether a counted call (`${service} ${command}`) is one that `grants` allow. */
function granted(grants: FunctionGrants, call: string, fn: string): boolean {
  const [service, command = ''] = call.split(' ');
  if (service === 'DynamoDB')
    return (grants.table as readonly string[]).includes(`dynamodb:${command}`);
  if (service === '@connections')
    return (grants.connections as readonly string[]).includes(METHODS[command] ?? command);
  // Only the connect function may invoke the deliver function (lib/signal-server.ts).
  return call === 'Lambda Invoke' && fn === 'connect';
}

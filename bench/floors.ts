/**
 * Each protocol operation's floor: the fewest AWS calls it needs in this design (one table, no
 * Scan, API Gateway WebSockets), with a one-line reason each, and why the code makes more where
 * it does.
 */
import type { Tally } from './sdk-calls.js';
import { num } from './stats.js';

/** The fewest calls an operation needs, by `${service} ${command}`, and why. */
export interface Floor {
  readonly calls: Readonly<Record<string, number>>;
  readonly why: string;
}

const floor = (why: string, calls: Record<string, number>): Floor => ({ why, calls });

/** Each operation's floor. `k` keys, `m` matching peers, `h` held frames. */
export const FLOORS = {
  introductionConnect: floor(
    "record the socket; make it its peer id's current socket (one write of the peer record)",
    { 'DynamoDB PutItem': 1, 'DynamoDB UpdateItem': 1 },
  ),
  relayWaits: floor('record the socket; wait at the pair’s rendezvous item', {
    'DynamoDB PutItem': 1,
    'DynamoDB UpdateItem': 1,
  }),
  pairing: floor(
    'claim the waiting socket at the rendezvous, check with API Gateway that it is still open (one that vanished without $disconnect would leave its client’s next socket waiting alone), record this socket with its peer, give the waiting socket its peer and (nothing held) its direct path',
    {
      'DynamoDB DeleteItem': 1,
      'DynamoDB PutItem': 1,
      'DynamoDB UpdateItem': 1,
      '@connections GetConnection': 1,
    },
  ),
  firstFrame: floor(
    '$default events carry only the connection id: a function that has not seen the socket reads its record for the peer, then posts',
    { 'DynamoDB GetItem': 1, '@connections PostToConnection': 1 },
  ),
  steadyFrame: floor(
    'a pair never changes, so a warm function remembers the peer: one post, no DynamoDB',
    { '@connections PostToConnection': 1 },
  ),
  heldFrame: floor(
    'read the socket record (not paired yet), take a sequence number, write the frame as an item of its own (held frames may exceed one item’s 400 KB)',
    { 'DynamoDB GetItem': 1, 'DynamoDB UpdateItem': 1, 'DynamoDB PutItem': 1 },
  ),
  pairingWithHeld: floor(
    'as a pairing, plus one asynchronous invoke of the deliver function: the new socket cannot be written to until its $connect returns',
    {
      'DynamoDB DeleteItem': 1,
      'DynamoDB PutItem': 1,
      'DynamoDB UpdateItem': 1,
      '@connections GetConnection': 1,
      'Lambda Invoke': 1,
    },
  ),
  delivery: (h: number) =>
    floor(
      'read the socket record, list its held frames (one query), claim them, post each, delete them (25 a batch), open the direct path',
      {
        'DynamoDB GetItem': 1,
        'DynamoDB Query': 1,
        'DynamoDB UpdateItem': 2,
        '@connections PostToConnection': h,
        'DynamoDB BatchWriteItem': Math.ceil(h / 25),
      },
    ),
  join: (k: number, m: number) =>
    floor(
      'read the socket record (for the peer id), read and write the peer record (its key set), index the keys (25 a batch), query each key, read the matching peers (100 a batch), introduce each pair both ways',
      {
        'DynamoDB GetItem': 2,
        'DynamoDB UpdateItem': 1,
        'DynamoDB BatchWriteItem': Math.ceil(k / 25),
        'DynamoDB Query': k,
        'DynamoDB BatchGetItem': Math.ceil(m / 100),
        '@connections PostToConnection': 2 * m,
      },
    ),
  leave: (k: number) =>
    floor(
      "read the socket record, read and write the peer record, delete the left keys' index entries (each conditional on the key-set version, so a later Join's entry survives: not batchable)",
      { 'DynamoDB GetItem': 2, 'DynamoDB UpdateItem': 1, 'DynamoDB DeleteItem': k },
    ),
  introductionDisconnect: (k: number) =>
    floor(
      "delete the socket record; delete the peer record, its last socket gone (one conditional delete); delete its k index entries (each conditional on the peer's session, so not batchable)",
      { 'DynamoDB DeleteItem': 2 + k },
    ),
  relayDisconnect: floor(
    "delete each socket's record; each side's $disconnect closes the other (the second finds the first gone)",
    { 'DynamoDB DeleteItem': 2, '@connections DeleteConnection': 2 },
  ),
  introductionKeepAlive: floor(
    'the text means "keep alive" only on an introduction socket (a relay app may send it too, and it must be relayed), and only the socket record knows its kind: one read, eventually consistent (the kind never changes: half a read unit); no write, no post',
    { 'DynamoDB GetItem': 1 },
  ),
  waitingDisconnect: floor('delete the socket record; withdraw it from the rendezvous', {
    'DynamoDB DeleteItem': 2,
  }),
} as const;

/**
 * Why the code makes more calls than the floor, in a line, by operation and kind of call (the
 * longer reasoning is in docs/performance.md, "Why each call above its floor"). Only the reasons
 * for calls measured above the floor are printed; one without a reason here is printed as such.
 */
const REASONS: Record<string, Record<string, string>> = {
  pairing: {
    'DynamoDB UpdateItem':
      'the rendezvous tries to wait before it claims (one write fails), the socket is recorded before it meets, and the waiting socket gets its peer and its direct path in two writes',
  },
  pairingWithHeld: {
    'DynamoDB UpdateItem':
      'as for a pairing: the rendezvous tries to wait first (one write fails), and the socket is recorded before it meets',
  },
  delivery: {
    '@connections PostToConnection':
      'posts answered 410 before the new socket’s $connect had returned, and retried',
  },
  introductionDisconnect: {
    'DynamoDB UpdateItem':
      'the socket leaves its peer’s socket set before the peer record is deleted',
  },
  relayDisconnect: {
    'DynamoDB GetItem':
      'within 30 s of pairing a 410 may mean "still connecting", so the second side checks once that the first socket’s record is gone',
  },
};

/** The reasons for the calls above the floor, or a note that one is missing. */
export function reasonsFor(id: string, excess: Record<string, number>): string | undefined {
  const above = Object.entries(excess).filter(([, n]) => n > 0);
  if (above.length === 0) return undefined;
  return above
    .map(
      ([key, n]) =>
        `+${num(n)} ${key}: ${REASONS[id]?.[key] ?? 'no reason recorded (bench/floors.ts): check the code'}.`,
    )
    .join(' ');
}

export const JOIN_POINTS: readonly (readonly [k: number, m: number])[] = [
  [1, 0],
  [1, 1],
  [10, 5],
  [30, 30],
  [120, 120],
];

/** The Join the cost model uses, and the introduction socket it closes. */
export const MODEL_JOIN = { k: 10, m: 5 } as const;

/** measured − floor for every kind of call in either, leaving out the equal ones. */
export function compare(measured: Tally, expected: Floor): Record<string, number> {
  const keys = new Set([...measured.keys(), ...Object.keys(expected.calls)]);
  const out: Record<string, number> = {};
  for (const key of keys) {
    const delta = (measured.get(key)?.calls ?? 0) - (expected.calls[key] ?? 0);
    if (Math.abs(delta) > 1e-9) out[key] = Number(num(delta, 2));
  }
  return out;
}

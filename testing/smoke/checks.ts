/**
 * The smoke test's six checks, in the order they run; each builds on the sockets the earlier
 * ones opened, and returns what it saw or throws what went wrong.
 */
import { randomBytes } from 'node:crypto';
import { clip, errorText, TestSocket, type Deadline } from '../socket.js';
import type { Target } from './target.js';

/** One run's ids, keys and sockets, shared by the checks. */
export class SmokeRun {
  readonly run = randomBytes(6).toString('hex');
  readonly ids = { a: `smoke-${this.run}-a`, b: `smoke-${this.run}-b` };
  readonly shared = `smoke-${this.run}-shared`;
  readonly own = { a: `smoke-${this.run}-a-only`, b: `smoke-${this.run}-b-only` };
  /** Every socket opened, to close at the end whatever happened. */
  readonly sockets: TestSocket[] = [];
  // What the checks share: the introduction sockets (2 → 3) and the relay sockets (4 → 6).
  introA?: TestSocket;
  introB?: TestSocket;
  relayA?: TestSocket;
  relayB?: TestSocket;

  constructor(readonly target: Target) {}

  async open(label: string, url: string, time: Deadline): Promise<TestSocket> {
    const socket = await TestSocket.open(url, {
      label,
      within: time,
      perMessageDeflate: false,
      tagged: false,
    });
    this.sockets.push(socket);
    return socket;
  }

  frame(from: 'a' | 'b', n: number): string {
    return JSON.stringify({ smoke: this.run, from, n });
  }

  introductionOf(id: string): string {
    return JSON.stringify({ type: 'Introduction', id, keys: [this.shared] });
  }

  /** Every frame of an introduction socket since `from` is the expected introduction, or throws. */
  onlyIntroductions(peer: TestSocket, other: string, from: number): number | undefined {
    const expected = this.introductionOf(other);
    const frames = peer.received.slice(from);
    for (const got of frames) {
      const message = parse(got);
      if (
        !isRecord(message) ||
        message.type !== 'Introduction' ||
        message.id !== other ||
        !sameList(message.keys, [this.shared])
      )
        throw new Error(`${peer.label} received ${clip(got)}, expecting only ${expected}`);
    }
    return frames.length > 0 ? frames.length : undefined;
  }

  /** Closes every socket: politely, then, after a second, for good. */
  async closeAll(): Promise<void> {
    await Promise.all(this.sockets.map((socket) => socket.close(1000, 'smoke test done', 1_000)));
  }
}

export interface Check {
  readonly name: string;
  run(smoke: SmokeRun, time: Deadline): Promise<string>;
}

const parse = (frame: string): unknown => {
  try {
    return JSON.parse(frame) as unknown;
  } catch {
    return undefined;
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const sameList = (a: unknown, b: readonly string[]) =>
  Array.isArray(a) && a.length === b.length && a.every((item, i) => item === b[i]);

const needed = <T>(value: T | undefined): T => {
  if (value === undefined) throw new Error('an earlier check did not finish');
  return value;
};

const fishPage: Check = {
  name: 'fish page',
  async run({ target }, time) {
    const pageUrl = target.pageUrl!;
    let response: Response;
    try {
      response = await fetch(pageUrl, { signal: AbortSignal.timeout(Math.max(1, time.remaining)) });
    } catch (error) {
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${time.ms} ms`
          : errorText((error as { cause?: unknown }).cause ?? error);
      throw new Error(`GET ${pageUrl} failed: ${why}`, { cause: error });
    }
    const type = response.headers.get('content-type') ?? '(no content-type)';
    const body = await response.text();
    const seen = `GET ${pageUrl} → ${response.status} ${type}`;
    if (response.status !== 200) throw new Error(`${seen}, expecting 200`);
    if (!/^text\/html\b/i.test(type)) throw new Error(`${seen}, expecting text/html`);
    if (!body.includes('🐟')) throw new Error(`${seen} without 🐟: ${clip(body)}`);
    return `${seen}, with 🐟`;
  },
};

const introduction: Check = {
  name: 'introduction',
  async run(smoke, time) {
    const { target, ids, shared, own } = smoke;
    // A joins first, B once its socket is open: B's Join always comes after A's.
    const a = await smoke.open("A's introduction socket", target.introductionUrl(ids.a), time);
    smoke.introA = a;
    await a.write(JSON.stringify({ type: 'Join', join: [shared, own.a] }));
    const b = await smoke.open("B's introduction socket", target.introductionUrl(ids.b), time);
    smoke.introB = b;
    await b.write(JSON.stringify({ type: 'Join', join: [shared, own.b] }));
    await Promise.all([
      a.until(
        `introduction ${smoke.introductionOf(ids.b)}`,
        () => smoke.onlyIntroductions(a, ids.b, 0),
        time,
      ),
      b.until(
        `introduction ${smoke.introductionOf(ids.a)}`,
        () => smoke.onlyIntroductions(b, ids.a, 0),
        time,
      ),
    ]);
    return `A and B joined a shared key (and one key each of their own); each was introduced to the other with exactly the shared key`;
  },
};

const badInput: Check = {
  name: 'bad input',
  async run(smoke, time) {
    const a = needed(smoke.introA);
    const from = a.received.length;
    const bad = ['this is not JSON', JSON.stringify({ type: 'Join', join: smoke.shared })];
    for (const body of bad) await a.write(body);
    const errors = await a.until(
      `${bad.length} {type:'Error'} replies`,
      () => {
        const errors: string[] = [];
        for (const got of a.received.slice(from)) {
          const message = parse(got);
          if (isRecord(message) && message.type === 'Error' && typeof message.error === 'string')
            errors.push(message.error);
          // Late duplicate introductions are allowed; anything else is not.
          else if (!isRecord(message) || message.type !== 'Introduction')
            throw new Error(`A received ${clip(got)}, expecting {type:'Error'}`);
        }
        return errors.length >= bad.length ? errors : undefined;
      },
      time,
    );
    // Still usable: leaving and joining again introduces A to B again (a Join of a key A still
    // holds re-introduces only once a minute: docs/protocol.md, "Re-introduction budget"). The
    // server may handle the Join before the Leave, so the Join is repeated until it is served.
    const again = a.received.length;
    const join = JSON.stringify({ type: 'Join', join: [smoke.shared] });
    await a.write(JSON.stringify({ type: 'Leave', leave: [smoke.shared] }));
    await a.write(join);
    const rejoin = setInterval(() => void a.write(join).catch(() => undefined), 1_000);
    await a
      .until(
        `introduction to B after the bad input`,
        () =>
          a.received.slice(again).some((got) => {
            const message = parse(got);
            return (
              isRecord(message) && message.type === 'Introduction' && message.id === smoke.ids.b
            );
          })
            ? true
            : undefined,
        time,
      )
      .finally(() => clearInterval(rejoin));
    return `${bad.length} bad frames got ${errors.length} Error replies (${errors.map((error) => JSON.stringify(clip(error, 60))).join(', ')}); the socket stayed open and a Leave and a new Join introduced B again`;
  },
};

const heldFrames: Check = {
  name: 'held frames',
  async run(smoke, time) {
    const { target, ids, shared } = smoke;
    const a = await smoke.open(
      "A's relay socket",
      target.connectionUrl(ids.a, ids.b, shared),
      time,
    );
    smoke.relayA = a;
    const held = [1, 2, 3].map((n) => smoke.frame('a', n));
    // One after another, each handed to the network before the next.
    for (const body of held) await a.write(body);
    const b = await smoke.open(
      "B's relay socket",
      target.connectionUrl(ids.b, ids.a, shared),
      time,
    );
    smoke.relayB = b;
    await b.until(
      `${held.length} held frames from A`,
      () => {
        b.received.forEach((got, i) => {
          if (got !== held[i])
            throw new Error(
              `B received ${b.describeReceived()}, expecting ${held.join(' | ')} in that order`,
            );
        });
        return b.received.length >= held.length ? true : undefined;
      },
      time,
    );
    return `A sent ${held.length} frames before B connected; B, sending nothing, received all ${held.length} in order`;
  },
};

/** The frames since `from`, once all `expected` arrived; throws on a stranger or a duplicate. */
function exactlyOnce(peer: TestSocket, from: number, expected: string[], sender: string) {
  const got = peer.received.slice(from);
  for (const item of got) {
    if (!expected.includes(item))
      throw new Error(`${peer.label} received ${clip(item)}, which ${sender} never sent`);
    if (got.filter((other) => other === item).length > 1)
      throw new Error(`${peer.label} received ${clip(item)} more than once`);
  }
  return got.length === expected.length ? got : undefined;
}

const relayBothWays: Check = {
  name: 'relay both ways',
  async run(smoke, time) {
    const [a, b] = [needed(smoke.relayA), needed(smoke.relayB)];
    const toB = [4, 5, 6].map((n) => smoke.frame('a', n));
    const toA = [1, 2, 3].map((n) => smoke.frame('b', n));
    const heldCount = b.received.length;
    await Promise.all([
      (async () => {
        for (const body of toB) await a.write(body);
      })(),
      (async () => {
        for (const body of toA) await b.write(body);
      })(),
    ]);
    const [gotA, gotB] = await Promise.all([
      a.until(`${toA.length} frames from B`, () => exactlyOnce(a, 0, toA, 'B'), time),
      b.until(`${toB.length} frames from A`, () => exactlyOnce(b, heldCount, toB, 'A'), time),
    ]);
    // Anything more within a moment would be a duplicate or a frame of the server's own.
    const quietMs = Math.min(500, Math.floor(time.remaining / 2));
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    exactlyOnce(a, 0, toA, 'B');
    exactlyOnce(b, heldCount, toB, 'A');
    const order = (got: string[], sent: string[]) =>
      sameList(got, sent) ? 'in order' : 'reordered';
    return `${toB.length} frames A→B (${order(gotB, toB)}) and ${toA.length} B→A (${order(gotA, toA)}), each delivered once, nothing else within ${quietMs} ms`;
  },
};

const close: Check = {
  name: 'close',
  async run(smoke, time) {
    const [a, b] = [needed(smoke.relayA), needed(smoke.relayB)];
    const started = Date.now();
    void a.close(1000, 'smoke test: A leaves');
    const { code, reason } = await b.until(
      'close of B by the server after A closed',
      () => b.closedWith,
      time,
    );
    return `A closed; the server closed B (${code}${reason ? ` ${reason}` : ''}) ${Date.now() - started} ms later`;
  },
};

export const CHECKS: readonly Check[] = [
  fishPage,
  introduction,
  badInput,
  heldFrames,
  relayBothWays,
  close,
];

/**
 * Randomised abuse beside healthy traffic, through the local gateway: bad handshakes, malformed,
 * oversized and invalid-UTF-8 messages, binary frames and connection churn (sockets opened and
 * dropped at random, some mid-handshake), all at once, while a healthy relay pair exchanges
 * frames and healthy peers are introduced. Seeded and reproducible: the seed is in the test's
 * name (replay with FUZZ_SEED=…). Bounded: a fixed number of rounds.
 *
 * What must hold: every bad handshake is refused with a 4xx (never a 5xx, never left hanging);
 * every bad message on an introduction socket is answered with an Error frame; a binary frame
 * closes its socket with 1003, an oversized one with 1009; no handler fails; the healthy pair
 * gets every frame once and in order, the healthy peers are introduced exactly as they should
 * be; and afterwards the gateway still serves and the handlers still work.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, MAX_FRAME_BYTES } from '../../lambda/core/limits.js';
import { parseKeyChange } from '../../lambda/core/protocol.js';
import { TestSocket } from '../../testing/socket.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { random, seedFrom, type Random } from '../../testing/random.js';

const SEED = seedFrom('FUZZ_SEED');
const ROUNDS = 160;
const AT_ONCE = 8;

/** Text made of everything that trips parsers: controls, quotes, surrogates, emoji, NUL. */
function nasty(rng: Random, length: number): string {
  const pieces = [
    'a',
    'Z',
    '0',
    ' ',
    '"',
    "'",
    '\\',
    '/',
    '%',
    '%ZZ',
    '%E0%A4%A',
    '%00',
    '\u0000',
    '\u0001',
    '\u001f',
    '\u007f',
    '\u0085',
    '\u2028',
    '\ud800',
    '\udfff',
    '😀',
    'é',
    '{',
    '}',
    '[',
    ']',
    ':',
    ',',
    '?',
    '&',
    '=',
    '#',
    '..',
    '__proto__',
    'constructor',
    'null',
    'true',
    '1e309',
  ];
  let out = '';
  while (out.length < length) out += rng.pick(pieces);
  return out.slice(0, length);
}

/** Percent-encodes every byte of the UTF-8 text (a lone surrogate becomes U+FFFD's bytes). */
const escape = (text: string) =>
  [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

/** A handshake path that is wrong in some way (rarely, by chance, right). */
function badPath(rng: Random, stage: string): string {
  const bit = () => escape(nasty(rng, rng.between(0, 12)));
  const long = 'x'.repeat(rng.between(257, 600));
  const query = () =>
    [
      rng.chance(0.7)
        ? `type=${rng.pick(['introduction', 'connection', 'sideways', '', bit()])}`
        : '',
      rng.chance(0.7) ? `localId=${rng.pick([bit(), long, '', 'same'])}` : '',
      rng.chance(0.5) ? `remoteId=${rng.pick([bit(), 'same', ''])}` : '',
      rng.chance(0.5) ? `key=${rng.pick([bit(), long, ''])}` : '',
      rng.chance(0.2) ? `${bit()}=${bit()}` : '',
    ]
      .filter(Boolean)
      .join('&');
  return rng.pick([
    () => `/introduction/${rng.pick([long, '%00', '%E0%A4%A', '', `${bit()}/${bit()}`])}`,
    () => `/connection/${bit()}/${rng.pick(['', bit()])}`,
    () => `/connection/same/same/${bit() || 'k'}`,
    () => `/connection/${bit()}/${bit()}/${bit()}/${bit()}`,
    () => `/${stage}?${query()}`,
    () => `/${stage}/${bit()}?${query()}`,
    () => `/${bit()}`,
    () => `/${stage}?${'type=introduction&'.repeat(rng.between(2, 5))}localId=${bit()}`,
  ])();
}

/** A message for an introduction socket: mostly malformed, sometimes valid. */
function badMessage(rng: Random): string {
  const key = () => rng.pick([nasty(rng, rng.between(0, 20)), 'x'.repeat(300), 7, null, {}, []]);
  return rng.pick<() => string>([
    () => nasty(rng, rng.between(0, 200)),
    () => JSON.stringify({ type: 'Join', join: Array.from({ length: rng.between(0, 300) }, key) }),
    () =>
      JSON.stringify({ type: rng.pick(['Join', 'Leave', 'Hello', 42]), join: key(), leave: key() }),
    () => JSON.stringify({ __proto__: { join: ['x'] }, constructor: { prototype: 1 } }),
    () => `{"join": ["a"], "join": ["b"]`.slice(0, rng.between(1, 25)),
    () => '['.repeat(rng.between(1, 5_000)),
    () => JSON.stringify(Array.from({ length: rng.between(0, 50) }, () => rng.next())),
    () => JSON.stringify({ type: 'Join', join: [`fuzz-${rng.int(5)}`] }),
    () => JSON.stringify({ type: 'Leave', leave: [`fuzz-${rng.int(5)}`] }),
    () => `"${nasty(rng, 30)}"`,
    () => 'x'.repeat(MAX_FRAME_BYTES), // exactly at API Gateway's frame limit
  ])();
}

/** Opens a raw WebSocket and settles on the first outcome: the status of a refusal, or open. */
function handshake(url: string): Promise<{ status?: number; opened?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`handshake hung: ${url}`)), 15_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve({ opened: ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      resolve({ status: res.statusCode ?? 0 });
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      // The client refused what it was sent (e.g. a URL it cannot even request): not the server.
      if (/Invalid URL|invalid/i.test(error.message)) resolve({ status: 0 });
      else reject(error);
    });
  });
}

describe.each(backends())('fuzz on $name', (backend) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway(backend);
  });
  afterAll(() => gateway.close());

  it(`keeps a healthy pair and healthy introductions intact under abuse (seed ${SEED})`, async () => {
    const rng = random(SEED);
    const run = randomUUID().slice(0, 8);
    const name = (label: string) => `${label}-${run}`;
    const url = (path: string) => gateway.wsUrl(path);
    const problems: string[] = [];
    const problem = (what: string) => problems.push(`${what} (seed ${SEED})`);
    const opened: TestSocket[] = [];
    const open = async (path: string) => {
      const socket = await TestSocket.open(url(path));
      opened.push(socket);
      return socket;
    };

    // ---- the healthy ones ------------------------------------------------------------------
    const key = name('doc');
    const [H1, H2, H3] = [name('H1'), name('H2'), name('H3')];
    const h1 = await open(`/introduction/${H1}`);
    const h2 = await open(`/introduction/${H2}`);
    h1.send({ type: 'Join', join: [key] });
    await h1.sync();
    await gateway.settled();
    h2.send({ type: 'Join', join: [key] });
    expect(await h2.nextJson()).toEqual({ type: 'Introduction', id: H1, keys: [key] });
    expect(await h1.nextJson()).toEqual({ type: 'Introduction', id: H2, keys: [key] });
    const [A, B] = [name('A'), name('B')];
    const a = await open(`/connection/${A}/${B}/${key}`);
    const b = await open(`/connection/${B}/${A}/${key}`);
    let exchanged = 0;
    let exchanges = Promise.resolve();
    /** One frame each way, one exchange at a time, checked in order. */
    const exchange = () =>
      (exchanges = exchanges.then(async () => {
        const n = exchanged++;
        a.send(`a${n}`);
        b.send(`b${n}`);
        const [toB, toA] = [await b.next(10_000), await a.next(10_000)];
        if (toB !== `a${n}` || toA !== `b${n}`) problem(`healthy pair got ${toB}, ${toA} for ${n}`);
      }));

    // ---- the abuse -----------------------------------------------------------------------------
    const actions: Record<string, () => Promise<void>> = {
      async 'bad handshake'() {
        const path = badPath(rng, gateway.stage);
        const { status, opened: ws } = await handshake(url(path));
        if (ws)
          ws.terminate(); // valid by chance: fine
        else if (status !== 0 && (status! < 400 || status! >= 500))
          problem(`handshake ${path} answered ${status}`);
      },
      async 'malformed messages'() {
        const socket = await open(`/introduction/${name(`F${rng.int(1e6)}`)}`);
        const bodies = Array.from({ length: rng.between(1, 6) }, () => badMessage(rng));
        for (const body of bodies) socket.send(body);
        const errors = bodies.filter((body) => !parseKeyChange(body, DEFAULT_LIMITS).ok).length;
        const frames = await socket.take(errors, 10_000).catch(() => socket.unread());
        const got = frames.map((frame) => JSON.parse(frame) as { type: string });
        if (got.filter((m) => m.type === 'Error').length !== errors)
          problem(`expected ${errors} Error frames, got ${JSON.stringify(got).slice(0, 200)}`);
        if (rng.chance(0.5)) await socket.close();
        else socket.ws.terminate();
      },
      async 'oversized frame'() {
        const socket = await open(
          rng.chance(0.5)
            ? `/introduction/${name(`O${rng.int(1e6)}`)}`
            : `/connection/${name(`O${rng.int(1e6)}`)}/${name('nobody')}/${key}`,
        );
        socket.send('y'.repeat(MAX_FRAME_BYTES + rng.between(1, 5_000)));
        const { code } = await socket.closedBy(10_000);
        if (code !== 1009) problem(`oversized frame closed with ${code}`);
      },
      async 'binary frame'() {
        const socket = await open(`/connection/${name(`X${rng.int(1e6)}`)}/${name('Y')}/${key}`);
        socket.send(Buffer.from(nasty(rng, 10)), { binary: true });
        const { code } = await socket.closedBy(10_000);
        if (code !== 1003) problem(`binary frame closed with ${code}`);
      },
      async 'invalid UTF-8'() {
        const socket = await open(`/introduction/${name(`U${rng.int(1e6)}`)}`);
        socket.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0xc0, 0x80, 0x7d]), { binary: false });
        await socket.closedBy(10_000); // ws refuses it (1007): closed either way, nothing else
      },
      async churn() {
        // Relay sockets of throwaway pairs, opened and dropped at random, some never paired.
        const [C, D] = [name(`C${rng.int(20)}`), name(`D${rng.int(20)}`)];
        const sockets = await Promise.all(
          Array.from({ length: rng.between(1, 3) }, () =>
            open(rng.chance(0.5) ? `/connection/${C}/${D}/${key}` : `/connection/${D}/${C}/${key}`),
          ),
        );
        for (const socket of sockets) {
          if (rng.chance(0.6)) socket.send(nasty(rng, rng.between(1, 100)));
          if (rng.chance(0.5)) socket.ws.terminate();
          else void socket.close();
        }
      },
      async 'dropped handshake'() {
        // The client goes away while $connect runs.
        const ws = new WebSocket(url(`/introduction/${name(`G${rng.int(1e6)}`)}`));
        ws.on('error', () => undefined);
        ws.on('upgrade', () => ws.terminate());
        setTimeout(() => ws.terminate(), rng.between(0, 5));
        await new Promise((resolve) => ws.once('close', resolve));
      },
    };
    const names = Object.keys(actions);
    let next = 0;
    await Promise.all(
      Array.from({ length: AT_ONCE }, async () => {
        while (next < ROUNDS) {
          const round = next++;
          const action = names[rng.int(names.length)]!;
          try {
            await actions[action]!();
          } catch (error) {
            problem(`round ${round} (${action}) threw ${(error as Error).message}`);
          }
          if (round % 10 === 0) await exchange();
        }
      }),
    );

    // ---- afterwards ----------------------------------------------------------------------------
    await gateway.settled();
    await exchange();
    const h3 = await open(`/introduction/${H3}`);
    h3.send({ type: 'Join', join: [key] });
    const toH3 = [await h3.nextJson(), await h3.nextJson()];
    expect(toH3).toEqual(
      expect.arrayContaining([
        { type: 'Introduction', id: H1, keys: [key] },
        { type: 'Introduction', id: H2, keys: [key] },
      ]),
    );
    expect(await h1.nextJson()).toEqual({ type: 'Introduction', id: H3, keys: [key] });
    expect(await h2.nextJson()).toEqual({ type: 'Introduction', id: H3, keys: [key] });
    await Promise.all([h1, h2, h3, a, b].map((socket) => socket.sync()));
    await gateway.settled();
    for (const socket of [h1, h2, h3, a, b]) expect(socket.unread()).toEqual([]);
    expect(a.isOpen && b.isOpen).toBe(true);
    expect(problems).toEqual([]);
    const failed = gateway.events.filter((entry) => entry.error !== undefined);
    expect(failed.map((entry) => `${entry.route}: ${String(entry.error)}`)).toEqual([]);
    // The gateway still serves plain HTTP (the fish page).
    const page = await fetch(gateway.url);
    expect(page.status).toBe(200);

    await Promise.all(opened.map((socket) => socket.close()));
    await gateway.settled();
  });
});

/**
 * SignalSocket's close, handshake, reload and rate-control paths through the local gateway, with
 * faults injected under it (test/support/faulty-socket.ts): frames dropped as API Gateway drops throttled
 * ones, delayed, duplicated, and sockets cut. Each scenario is fixed (seeded where random).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, signalSocket, type SignalSocket } from '../../client/index.js';
import { MAX_HEADER_BYTES } from '../../client/wire.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { random as seeded } from '../../testing/random.js';
import { faulty, type Fate, type FaultRules } from '../support/faulty-socket.js';
import { Endpoint, bytes, mixedText, pairUrls, Ws } from '../support/signal-sockets.js';

const isData = (frame: string) => frame[0] === 'D' || frame[0] === 'd';

/** Counts `error` events, which must precede the transport's own unclean closes. */
function errors(socket: SignalSocket): { count: number; beforeClose?: number } {
  const seen: { count: number; beforeClose?: number } = { count: 0 };
  socket.addEventListener('error', () => seen.count++);
  socket.addEventListener('close', () => (seen.beforeClose = seen.count));
  return seen;
}

describe('SignalSocket under injected faults, through the local gateway', () => {
  let gateway: TestGateway;
  let base: string;
  beforeAll(async () => {
    gateway = await startTestGateway(backends()[0]!, { invocationJitterMs: 3 });
    base = gateway.wsUrl('');
  });
  afterAll(() => gateway.close());

  function pair(rulesA: FaultRules = {}, rulesB: FaultRules = {}, options = {}) {
    const fa = faulty(rulesA);
    const fb = faulty(rulesB);
    const [urlA, urlB] = pairUrls(base);
    const a = new Endpoint(new (signalSocket({ WebSocket: fa.WebSocket, ...options }))(urlA));
    const b = new Endpoint(new (signalSocket({ WebSocket: fb.WebSocket, ...options }))(urlB));
    return { a, b, fa, fb, urlA, urlB };
  }

  it('keeps every frame within the limit when a close with a multi-byte reason follows a nearly full frame', async () => {
    const { a, b } = pair();
    await Promise.all([a.opened, b.opened]);
    // Leaves 60 bytes in the first frame: the close record fits there in UTF-16 units (50), not
    // in UTF-8 bytes (132). The gateway closes a socket with 1009 for a frame over 32 KB.
    const room = 60;
    const fill = 'x'.repeat(32 * 1024 - MAX_HEADER_BYTES - room - 5);
    const reason = '€'.repeat(41);
    a.socket.send(fill);
    a.socket.close(4000, reason);
    expect(await b.closedWithin()).toEqual({ code: 4000, reason, wasClean: true });
    expect(b.received).toEqual([fill]);
    expect(await a.closedWithin()).toEqual({ code: 4000, reason, wasClean: true });
    await gateway.settled();
    const oversize = gateway.events.filter(
      (e) => e.route === 'disconnect' && e.event.requestContext.disconnectStatusCode === 1009,
    );
    expect(oversize).toEqual([]);
  });

  it('closes cleanly when the acknowledgement of the close is throttled', async () => {
    let closing = false;
    let dropped = 0;
    const { a, b } = pair(
      {},
      {
        // The peer's acknowledgement of the close is dropped, with an error frame to the peer.
        send: (frame) => (closing && frame[0] === 'A' && dropped++ === 0 ? 'drop' : 'pass'),
      },
      { resumeWithinMs: 10_000 },
    );
    await Promise.all([a.opened, b.opened]);
    a.socket.send('last words');
    await b.until(1);
    closing = true;
    a.socket.close(4001, 'bye');
    expect(await b.closedWithin()).toEqual({ code: 4001, reason: 'bye', wasClean: true });
    expect(await a.closedWithin(9_000)).toEqual({ code: 4001, reason: 'bye', wasClean: true });
    expect(dropped).toBeGreaterThan(0);
  });

  it('completes the handshake after a cut when both resumed hellos are throttled twice', async () => {
    const helloDrops = new Map<string, number>();
    const dropHellos =
      (side: string): FaultRules['send'] =>
      (frame, index) => {
        if (index === 0 || frame[0] !== 'H') return 'pass';
        const key = `${side}${index}`;
        const n = helloDrops.get(key) ?? 0;
        helloDrops.set(key, n + 1);
        return n < 2 ? 'drop' : 'pass';
      };
    const { a, b, fa } = pair(
      { send: dropHellos('a') },
      { send: dropHellos('b') },
      { resumeWithinMs: 8_000 },
    );
    a.socket.addEventListener('open', () => a.socket.send('before the cut'));
    expect(await b.until(1)).toEqual(['before the cut']);
    fa.sockets[0]!.cut();
    a.socket.send('after the cut');
    b.socket.send('from b after the cut');
    expect(await b.until(2, 7_000)).toEqual(['before the cut', 'after the cut']);
    expect(await a.until(1, 7_000)).toEqual(['from b after the cut']);
    expect([...helloDrops.values()].filter((n) => n > 2).length).toBeGreaterThan(0);
    a.socket.close();
    await Promise.all([a.closed, b.closed]);
  });

  it('lets a reloaded page talk to its peer again: the old stream ends, the reloaded one lives', async () => {
    let gone = false;
    const old = faulty({ redirect: (url) => (gone ? 'ws://127.0.0.1:9/' : url) });
    const [urlA, urlB] = pairUrls(base);
    const Socket = signalSocket({ WebSocket: Ws, resumeWithinMs: 5_000 });
    const a = new Endpoint(
      new (signalSocket({ WebSocket: old.WebSocket, resumeWithinMs: 1_000 }))(urlA),
    );
    const b = new Endpoint(new Socket(urlB));
    const bErrors = errors(b.socket);
    a.socket.addEventListener('open', () => a.socket.send('from the old page'));
    b.socket.addEventListener('open', () => b.socket.send('to the old page'));
    await Promise.all([b.until(1), a.until(1)]);
    // The page reloads: its socket dies with it, and the new page opens the same relay.
    gone = true;
    old.sockets[0]!.cut();
    const reloaded = new Endpoint(new Socket(urlA));
    let reloadedClosed = false;
    reloaded.socket.addEventListener('close', () => (reloadedClosed = true));
    // The peer's stream cannot go on with a new page: it ends, with error then close 4410.
    const closed = await b.closedWithin(8_000);
    expect(closed.code).toBe(CLOSE_CODES.NEW_STREAM);
    // The peer's app opens a new socket, and the reloaded page talks to it.
    const b2 = new Endpoint(new Socket(urlB));
    reloaded.socket.send('from the new page');
    b2.socket.addEventListener('open', () => b2.socket.send('to the new page'));
    expect(await b2.until(1)).toEqual(['from the new page']);
    expect(await reloaded.until(1)).toEqual(['to the new page']);
    expect(reloadedClosed).toBe(false);
    expect(bErrors).toEqual({ count: 1, beforeClose: 1 });
    reloaded.socket.close();
    await Promise.all([reloaded.closed, b2.closed]);
  });

  it('stops dialling a socket closed before its peer came, so that the peer meets the new one', async () => {
    const [urlA, urlB] = pairUrls(base);
    const Socket = signalSocket({ WebSocket: Ws });
    const first = new Endpoint(new Socket(urlA));
    await first.opened;
    await gateway.settled();
    first.socket.close(4000, 'changed my mind');
    const second = new Endpoint(new Socket(urlA));
    await second.opened;
    // The new socket replaced the closed one at the rendezvous; the closed one does not come back.
    expect((await first.closedWithin()).code).toBe(4000);
    await gateway.settled();
    const peer = new Endpoint(new Socket(urlB));
    second.socket.send('from the second socket');
    expect(await peer.until(1)).toEqual(['from the second socket']);
    await gateway.settled();
    const key = new URL(urlA).pathname.split('/').at(-1)!;
    const connects = gateway.events.filter(
      (e) => e.route === 'connect' && e.event.queryStringParameters?.key === key,
    );
    expect(connects).toHaveLength(3);
    expect(peer.socket.readyState).toBe(peer.socket.OPEN);
    second.socket.close();
    await Promise.all([second.closed, peer.closed]);
  });

  it('counts what the app sends while closing or closed in bufferedAmount, as WHATWG says', async () => {
    const { a, b } = pair();
    await Promise.all([a.opened, b.opened]);
    a.socket.close(4000, 'done');
    a.socket.send('abc');
    a.socket.send('é');
    expect(a.socket.bufferedAmount).toBe(5);
    await a.closedWithin();
    a.socket.send(new Uint8Array(10));
    expect(a.socket.bufferedAmount).toBe(15);
    expect(await b.closedWithin()).toEqual({ code: 4000, reason: 'done', wasClean: true });
  });

  it('resends only what was rejected when one data frame in eight is, whatever its pace', async () => {
    const random = seeded(7).next;
    const written = new Map<string, number>();
    const { a, b } = pair({
      send: (frame) => {
        if (!isData(frame)) return 'pass';
        const seq = frame.slice(1, frame.indexOf('.'));
        written.set(seq, (written.get(seq) ?? 0) + 1);
        return random() < 1 / 8 ? 'drop' : 'pass';
      },
    });
    await Promise.all([a.opened, b.opened]);
    const message = bytes(4 * 1024 * 1024, 3);
    a.socket.send(message);
    // A backoff that only grows took minutes for this; a collapse would time the test out.
    const [received] = await b.until(1, 50_000);
    expect(Buffer.compare(received as Uint8Array, message)).toBe(0);
    // Selective acknowledgements: about one copy more per rejected frame, not the window's worth
    // that going back N resends after each error frame.
    const copies = [...written.values()].reduce((sum, n) => sum + n, 0);
    expect(copies / written.size).toBeLessThan(1.5);
    a.socket.close();
    await b.closed;
  }, 70_000);

  it.each([11, 29])(
    'delivers both ways exactly once and in order through drops, delays, duplicates and cuts (seed %i)',
    async (seed) => {
      const random = seeded(seed).next;
      const chaos = (): Fate => {
        const r = random();
        if (r < 0.05) return 'drop';
        if (r < 0.12) return 'duplicate';
        return r < 0.3 ? { delay: Math.floor(random() * 40) } : 'pass';
      };
      const { a, b, fa, fb } = pair({ send: chaos, receive: chaos }, { send: chaos });
      await Promise.all([a.opened, b.opened]);
      const sent = Array.from({ length: 200 }, (_, i) =>
        i % 67 === 0 ? mixedText(60_000, i) : `m${i}`,
      );
      // Cuts while the messages flow, each under a random side's current socket.
      let cuts = 0;
      for (const [i, m] of sent.entries()) {
        a.socket.send(m);
        b.socket.send(m);
        if (i % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 50));
        if (i === 60 || i === 140) {
          (random() < 0.5 ? fa.sockets : fb.sockets).at(-1)?.cut();
          cuts++;
        }
      }
      expect(await b.until(sent.length, 40_000)).toEqual(sent);
      expect(await a.until(sent.length, 40_000)).toEqual(sent);
      expect(cuts).toBeGreaterThan(0);
      a.socket.close();
      expect(await b.closedWithin()).toEqual({ code: 1005, reason: '', wasClean: true });
    },
    90_000,
  );
});

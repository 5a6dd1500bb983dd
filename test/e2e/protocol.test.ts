/**
 * Every behaviour of docs/protocol.md, end to end: real `ws` clients against the local
 * gateway, which runs the AWS handlers on each DynamoDB backend.
 *
 * Synchronisation: `gateway.settled()` resolves when no handler runs, and `socket.sync()` (a
 * ping round trip) when every frame the server wrote before has arrived; together they make
 * "nothing else was sent" checkable without sleeping.
 */
import { describe, expect, it } from 'vitest';
import { TestSocket, openAll, refusal } from '../../testing/socket.js';
import { backends, startTestGateway } from '../support/gateway.js';
import { gatewaySuite } from '../support/suite.js';

interface Introduction {
  type: 'Introduction';
  id: string;
  keys: string[];
}

const introduction = (id: string, keys: string[]): Introduction => ({
  type: 'Introduction',
  id,
  keys,
});

describe.each(backends())('the signal protocol on $name', (backend) => {
  const suite = gatewaySuite(backend);
  const { name, open, quiet } = suite;

  const openMany = async (paths: string[]) => {
    const opened = await openAll(paths.map((path) => suite.gateway.wsUrl(path)));
    suite.track(...opened);
    return opened;
  };
  const intro = (id: string) => `/introduction/${encodeURIComponent(id)}`;
  const relay = (local: string, remote: string, key: string) =>
    `/connection/${encodeURIComponent(local)}/${encodeURIComponent(remote)}/${encodeURIComponent(key)}`;
  const queryForm = (params: Record<string, string>) =>
    `/${suite.gateway.stage}?${new URLSearchParams(params).toString()}`;

  /**
   * Waits until the server has received every frame these peers sent (a ping after them came
   * back), has finished handling everything, and every frame it sent them has arrived.
   */

  describe('introductions', () => {
    it('introduces both peers to each other with every key they share, ordered as in the joiner’s set', async () => {
      const [A, B] = [name('A'), name('B')];
      const [k1, k2, k3, other] = ['k1', 'k2', 'k3', 'other'].map(name) as [
        string,
        string,
        string,
        string,
      ];
      const [a, b] = await Promise.all([open(intro(A)), open(intro(B))]);
      a.send({ type: 'Join', join: [k1, k2, k3] });
      await quiet(a);

      b.send({ type: 'Join', join: [k3, other, k1] });
      expect(await a.nextJson()).toEqual(introduction(B, [k3, k1]));
      expect(await b.nextJson()).toEqual(introduction(A, [k3, k1]));

      // Joining one more key introduces them again with the full intersection, not that key.
      b.send({ type: 'Join', join: [k2] });
      expect(await a.nextJson()).toEqual(introduction(B, [k3, k1, k2]));
      expect(await b.nextJson()).toEqual(introduction(A, [k3, k1, k2]));

      // One message per pair and direction, never one per key.
      await quiet(a, b);
      expect(a.unread()).toEqual([]);
      expect(b.unread()).toEqual([]);
    });

    it('makes N·(N−1) introductions for N peers joining one key one after another (20 for 5)', async () => {
      const key = name('doc');
      const ids = [1, 2, 3, 4, 5].map((n) => name(`peer${n}`));
      const peers = await openMany(ids.map(intro));
      for (const peer of peers) {
        peer.send({ type: 'Join', join: [key] });
        await quiet(...peers);
      }
      const received = peers.map((peer) =>
        peer.unread().map((frame) => JSON.parse(frame) as Introduction),
      );
      expect(received.flat()).toHaveLength(20);
      received.forEach((introductions, i) => {
        expect(introductions.map((intro) => intro.id).sort()).toEqual(
          ids.filter((_, j) => j !== i).sort(),
        );
        for (const intro of introductions) expect(intro.keys).toEqual([key]);
      });
    });

    it('introduces nobody on a Leave or on a message that joins nothing', async () => {
      const [A, B] = [name('A'), name('B')];
      const [k1, k2] = [name('k1'), name('k2')];
      const [a, b] = await Promise.all([open(intro(A)), open(intro(B))]);
      a.send({ type: 'Join', join: [k1, k2] });
      await quiet(a);
      b.send({ type: 'Join', join: [k1, k2] });
      await a.next();
      await b.next();

      a.send({ type: 'Leave', leave: [k1] });
      await quiet(a, b);
      a.send({ type: 'Join', join: [] });
      await quiet(a, b);
      b.send({ type: 'Join' });
      await quiet(a, b);
      // B joins a key again that A has left: they share none of the joined keys.
      b.send({ type: 'Join', join: [k1] });
      await quiet(a, b);
      expect(a.unread()).toEqual([]);
      expect(b.unread()).toEqual([]);

      // The Leave took effect: what they share now is k2 only. (B leaves k2 and joins it again:
      // a Join of a held key on the same socket re-introduces once a minute, see docs/protocol.md.)
      b.send({ type: 'Leave', leave: [k2] });
      await quiet(a, b);
      b.send({ type: 'Join', join: [k2] });
      expect(await a.nextJson()).toEqual(introduction(B, [k2]));
      expect(await b.nextJson()).toEqual(introduction(A, [k2]));
    });

    it('applies join and leave whatever the message’s type says', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const [a, b] = await Promise.all([open(intro(A)), open(intro(B))]);
      a.send({ type: 'Join', join: [key] });
      await quiet(a);
      b.send({ type: 'Leave', join: [key] });
      expect(await a.nextJson()).toEqual(introduction(B, [key]));
      expect(await b.nextJson()).toEqual(introduction(A, [key]));
    });

    it('answers bad input with an Error and loses nothing else', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const a = await open(intro(A));
      a.send({ type: 'Join', join: [key] });
      await quiet(a);

      const bad: (string | object)[] = [
        'not json',
        '[1, 2]',
        '"a string"',
        'null',
        { type: 'Join', join: key },
        { type: 'Join', join: [1] },
        { type: 'Join', join: [''] },
        { type: 'Join', join: ['x'.repeat(257)] },
        { type: 'Join', join: ['tab\there'] },
        { type: 'Join', join: Array.from({ length: 257 }, (_, i) => `k${i}`) },
        { type: 'Leave', leave: [key, 5] },
        { type: 'Leave', leave: { key } },
      ];
      for (const frame of bad) a.send(frame);
      const answers = await a.take(bad.length);
      for (const answer of answers) {
        const parsed = JSON.parse(answer) as { type: string; error: unknown };
        expect(parsed.type).toBe('Error');
        expect(parsed.error).toEqual(expect.any(String));
      }
      await quiet(a);
      expect(a.unread()).toEqual([]);
      expect(a.isOpen).toBe(true);

      // The bad Leave changed nothing: A still holds its key and is introduced over it.
      const b = await open(intro(B));
      b.send({ type: 'Join', join: [key] });
      expect(await a.nextJson()).toEqual(introduction(B, [key]));
      expect(await b.nextJson()).toEqual(introduction(A, [key]));
    });

    it('lets a newer socket of a peer id take over; the old socket’s late close unregisters nothing', async () => {
      const [P, Q, R] = [name('P'), name('Q'), name('R')];
      const key = name('doc');
      const first = await open(intro(P));
      first.send({ type: 'Join', join: [key] });
      await quiet(first);

      // The same peer id reconnects; the newer socket sends nothing yet.
      const second = await open(intro(P));
      await first.close();
      await suite.gateway.disconnected(first);

      // P keeps its keys, and its introductions go to the newer socket.
      const q = await open(intro(Q));
      q.send({ type: 'Join', join: [key] });
      expect(await q.nextJson()).toEqual(introduction(P, [key]));
      expect(await second.nextJson()).toEqual(introduction(Q, [key]));

      // When its last socket closes, the peer's keys are forgotten.
      await second.close();
      await suite.gateway.disconnected(second);
      const r = await open(intro(R));
      r.send({ type: 'Join', join: [key] });
      expect(await r.nextJson()).toEqual(introduction(Q, [key]));
      await quiet(r, q);
      expect(r.unread()).toEqual([]);
    });
  });

  describe('gone sockets', () => {
    it('removes a peer whose socket answers 410 when its $disconnect was lost', async () => {
      const lossy = await startTestGateway(backend, { dropDisconnects: true });
      const opened: TestSocket[] = [];
      const openOn = async (id: string) => {
        const socket = await TestSocket.open(lossy.wsUrl(intro(id)));
        opened.push(socket);
        return socket;
      };
      try {
        const [P, Q, R] = [name('P'), name('Q'), name('R')];
        const key = name('doc');
        const p = await openOn(P);
        p.send({ type: 'Join', join: [key] });
        await p.sync();
        await lossy.settled();
        await p.close(); // no $disconnect: P's records stay behind
        await lossy.settled();

        // Q's join finds P, whose socket answers 410: P's records are removed.
        const q = await openOn(Q);
        q.send({ type: 'Join', join: [key] });
        await q.sync();
        await lossy.settled();

        const r = await openOn(R);
        r.send({ type: 'Join', join: [key] });
        expect(await r.nextJson()).toEqual(introduction(Q, [key]));
        await r.sync();
        await lossy.settled();
        await r.sync();
        expect(r.unread()).toEqual([]);
      } finally {
        await Promise.all(opened.map((socket) => socket.close()));
        await lossy.close();
      }
    });
  });

  describe('relay', () => {
    it('delivers frames held for a waiting socket in order, though the second peer never sends', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const a = await open(relay(A, B, key));
      const frames = ['one', 'two', 'three', JSON.stringify({ n: 4 }), 'five'];
      // Each frame handled before the next is sent: held frames keep the order they were held in.
      for (const frame of frames) {
        a.send(frame);
        await quiet(a);
      }
      const b = await open(relay(B, A, key));
      expect(await b.take(frames.length)).toEqual(frames);

      a.send('six');
      expect(await b.next()).toBe('six');
      await quiet(a, b);
      expect(a.unread()).toEqual([]);
      expect(b.unread()).toEqual([]);
    });

    it('relays frames both ways once paired, each once', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const a = await open(relay(A, B, key));
      const b = await open(relay(B, A, key));
      for (let round = 0; round < 3; round++) {
        a.send(`a${round}`);
        expect(await b.next()).toBe(`a${round}`);
        b.send(`b${round}`);
        expect(await a.next()).toBe(`b${round}`);
      }
      await quiet(a, b);
      expect(a.unread()).toEqual([]);
      expect(b.unread()).toEqual([]);
    });

    it('never writes its own frames on a relay socket', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const a = await open(relay(A, B, key));
      a.send('not JSON, not a protocol message');
      const b = await open(relay(B, A, key));
      expect(await b.next()).toBe('not JSON, not a protocol message');
      await quiet(a, b);
      expect(a.received).toEqual([]);
    });

    it('closes the peer when one side leaves (either side)', async () => {
      const key = name('doc');
      for (const leaver of ['first', 'second'] as const) {
        const [A, B] = [name(`A-${leaver}`), name(`B-${leaver}`)];
        const a = await open(relay(A, B, key));
        const b = await open(relay(B, A, key));
        a.send('hello');
        expect(await b.next()).toBe('hello');
        const [leaving, staying] = leaver === 'first' ? [a, b] : [b, a];
        await leaving.close();
        expect((await staying.closedBy()).code).toBe(1000);
      }
    });

    it('closes a waiting socket replaced by a newer one for the same pair, and pairs the newer', async () => {
      const [A, B] = [name('A'), name('B')];
      const key = name('doc');
      const replaced = await open(relay(A, B, key));
      replaced.send('from the replaced socket');
      await quiet(replaced);
      const successor = await open(relay(A, B, key));
      expect((await replaced.closedBy()).code).toBe(1000);
      // The replaced socket's close (its $disconnect) has run: it must not remove the successor.
      await suite.gateway.settled();

      successor.send('from the successor');
      await quiet(successor);
      const b = await open(relay(B, A, key));
      expect(await b.next()).toBe('from the successor');
      b.send('back');
      expect(await successor.next()).toBe('back');
      await quiet(b);
      expect(b.unread()).toEqual([]);
    });

    it('closes a socket whose held frames pass the bound', async () => {
      const small = await startTestGateway(backend, { limits: { maxHeldFrames: 3 } });
      try {
        const [A, B] = [name('A'), name('B')];
        const a = await TestSocket.open(small.wsUrl(relay(A, B, name('doc'))));
        for (const frame of ['1', '2', '3']) {
          a.send(frame);
          await a.sync();
          await small.settled();
        }
        expect(a.isOpen).toBe(true);
        a.send('4');
        // API Gateway's DeleteConnection takes no close code: the socket closes with 1000.
        expect((await a.closedBy()).code).toBe(1000);
      } finally {
        await small.close();
      }
    });
  });

  describe('handshakes', () => {
    it('refuses bad handshakes with 400, in the path form and in the query form', async () => {
      const long = 'x'.repeat(257);
      const paths = [
        '/introduction',
        '/introduction/',
        '/introduction/a/b',
        `/introduction/${long}`,
        '/introduction/a%00b',
        '/introduction/%E0%A4%A',
        '/connection/a/b',
        '/connection/a/a/key',
        '/connection/a//key',
        '/connection/a/b/key/extra',
        `/${suite.gateway.stage}`,
        `/${suite.gateway.stage}?type=introduction`,
        `/${suite.gateway.stage}?type=introduction&localId=`,
        `/${suite.gateway.stage}?type=sideways&localId=a`,
        `/${suite.gateway.stage}?type=connection&localId=a&remoteId=b`,
        `/${suite.gateway.stage}?type=connection&localId=a&remoteId=a&key=k`,
        `/${suite.gateway.stage}?type=introduction&localId=${long}`,
        `/${suite.gateway.stage}?type=introduction&localId=a%01b`,
      ];
      for (const path of paths) {
        const { status } = await refusal(suite.gateway.wsUrl(path));
        expect({ path, status }).toEqual({ path, status: 400 });
      }
    });

    it('serves the path form and the query form alike, percent-decoding path parameters', async () => {
      const A = name('café au lait/+');
      const B = name('B');
      const key = name('happy raccoon');
      const a = await open(intro(A));
      const b = await open(queryForm({ type: 'introduction', localId: B }));
      a.send({ type: 'Join', join: [key] });
      await quiet(a);
      b.send({ type: 'Join', join: [key] });
      expect(await a.nextJson()).toEqual(introduction(B, [key]));
      expect(await b.nextJson()).toEqual(introduction(A, [key]));

      const ra = await open(relay(A, B, key));
      ra.send('over the path form');
      const rb = await open(queryForm({ type: 'connection', localId: B, remoteId: A, key }));
      expect(await rb.next()).toBe('over the path form');
      rb.send('over the query form');
      expect(await ra.next()).toBe('over the query form');
    });
  });
});

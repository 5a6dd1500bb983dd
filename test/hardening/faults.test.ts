/**
 * Faults injected into the real handlers over a real DynamoDB API (test/support/world.ts): DynamoDB
 * failing after the SDK's retries, the management API answering 410, 429 or 5xx, the deliver
 * function failing, at every step of pairing and flushing. After each fault nothing is stuck: the
 * sockets still open work, and new sockets on the same ids pair and are introduced afresh.
 * (Faults below the SDK's retries, which the SDK absorbs, are in ./retries.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DELIVER_TIMEOUT_MS, PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { describeEachBackend, type OpenStore } from '../support/dynamodb.js';
import { HAND_OVER_SLACK } from '../../lambda/core/hand-over.js';
import { MESSAGE_FAILED } from '../../lambda/core/introduction.js';
import type { DbFault } from '../support/db-faults.js';
import { introductionsOf, openWorld, worldPerTest, type World } from '../support/world.js';

describeEachBackend('injected faults', (backend) => {
  let s: OpenStore;
  let w: World;
  worldPerTest(backend, (fresh) => ({ s, w } = fresh));

  const tag = () => randomUUID().slice(0, 8);
  const ids = () => [`a-${tag()}`, `b-${tag()}`, `doc-${tag()}`] as const;
  const relayQuery = (localId: string, remoteId: string, key: string) => ({
    type: 'connection',
    localId,
    remoteId,
    key,
  });
  /** Only the injected failures were logged, each as a failed handler (or a failed undo). */
  const onlyInjectedErrors = () =>
    expect(
      w.errors.filter(
        (line) =>
          !['ThrottlingException', 'InternalServerError', 'TooManyRequestsException'].includes(
            line.error ?? '',
          ),
      ),
    ).toEqual([]);

  /** A new reciprocal socket pairs with `socket` (a→b on key) and frames pass both ways. */
  async function pairsAfresh(socket: string, a: string, b: string, key: string) {
    const other = `r-${tag()}`;
    await w.relay(other, b, a, key);
    await w.settled();
    await w.send(socket, 'ping');
    await w.send(other, 'pong');
    await w.settled();
    expect(w.sockets.received(other).at(-1)).toBe('ping');
    expect(w.sockets.received(socket).at(-1)).toBe('pong');
    return other;
  }

  describe('pairing', () => {
    const steps: {
      step: string;
      fault: DbFault;
      command: string;
      match: (ra: string, rb: string) => (input: string) => boolean;
      /** Whether the waiting socket is still waiting afterwards (else it was closed). */
      waits: boolean;
    }[] = [
      {
        step: 'claiming the waiting socket at the rendezvous',
        fault: 'throttled',
        command: 'DeleteItemCommand',
        match: () => (input) => input.includes('"R#'),
        waits: true,
      },
      {
        step: 'recording the waiting socket’s peer (after the rendezvous)',
        fault: 'server error',
        command: 'UpdateItemCommand',
        match: (ra) => (input) => input.includes(`"C#${ra}"`) && input.includes('pairedAt'),
        waits: false,
      },
      {
        step: 'recording its own peer',
        fault: 'throttled',
        command: 'UpdateItemCommand',
        match: (_ra, rb) => (input) => input.includes(`"C#${rb}"`) && input.includes('pairedAt'),
        waits: false,
      },
      {
        step: 'opening the direct path',
        fault: 'server error',
        command: 'UpdateItemCommand',
        match: (ra) => (input) => input.includes(`"C#${ra}"`) && input.includes('flushed'),
        waits: false,
      },
    ];
    for (const { step, fault, command, match, waits } of steps)
      it(`leaves nothing stuck when a relay $connect fails ${step} (${fault})`, async () => {
        const [a, b, key] = ids();
        const [ra, rb] = [`ra-${tag()}`, `rb-${tag()}`];
        await w.relay(ra, a, b, key);
        w.faults.add({ command, match: match(ra, rb), fault });

        await expect(w.connect(rb, relayQuery(b, a, key))).rejects.toThrow('(injected)');
        expect(w.faults.pending()).toEqual([]);
        onlyInjectedErrors();
        // The handshake was refused: no $disconnect will come, and nothing of it remains.
        expect(await s.store.connections.getConnection(rb)).toBeUndefined();

        if (waits) {
          expect(w.sockets.closed).toEqual([]);
          await pairsAfresh(ra, a, b, key);
        } else {
          // The socket it claimed is closed, not left waiting where nobody can find it.
          expect(w.sockets.closed).toEqual([ra]);
          await w.disconnect(ra);
          const ra2 = `ra2-${tag()}`;
          await w.relay(ra2, a, b, key);
          await pairsAfresh(ra2, a, b, key);
        }
      });
  });

  describe('delivering held frames', () => {
    const frames = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `f${from + i}`);
    /** ra (a→b) holds f1…f5; then rb pairs with it, and the deliver function starts. */
    async function heldThenPaired() {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      for (const frame of frames(5)) await w.send('ra', frame);
      await w.relay('rb', b, a, key);
      return { a, b, key };
    }

    it('retries a post that fails past the SDK’s retries; every frame arrives once, in order', async () => {
      w.sockets.fail('post', 'throttled', (to, data) => to === 'rb' && data === 'f3', 2);
      w.sockets.fail('post', 'server error', (to, data) => to === 'rb' && data === 'f4');
      await heldThenPaired();
      await w.settled();
      await w.send('ra', 'f6');
      expect(w.sockets.received('rb')).toEqual(frames(6));
      expect(w.sockets.closed).toEqual([]);
      expect(w.deliveries.failures).toEqual([]);
      expect(w.errors).toEqual([]);
    });

    it('closes both sockets when posting keeps failing, never losing frames silently or sending twice', async () => {
      w.sockets.fail('post', 'throttled', (to, data) => to === 'rb' && data === 'f3', 1_000);
      // Each failure costs the deliverer several seconds of its patience.
      w.sockets.beforeCall = (op, to, data) => {
        if (op === 'post' && to === 'rb' && data === 'f3') w.advance(5_000);
      };
      const { a, b, key } = await heldThenPaired();
      await w.settled();
      expect(w.sockets.received('rb')).toEqual(['f1', 'f2']);
      expect(w.sockets.closed.sort()).toEqual(['ra', 'rb']);
      // Lambda retried the failed invocation twice: neither sent anything again.
      expect(w.deliveries.failures).toHaveLength(1);
      expect(w.errors.map((line) => line.message)).toContain(
        'held frames could not be delivered: closing both sockets',
      );
      await Promise.all([w.disconnect('ra'), w.disconnect('rb')]);
      expect(await s.store.relays.listHeld('ra')).toEqual([]);
      w.sockets.beforeCall = undefined;
      await w.relay('ra2', a, b, key);
      await pairsAfresh('ra2', a, b, key);
    });

    it('never opens the direct path while a duplicate deliverer is still posting', async () => {
      let duplicate: Promise<void> | undefined;
      w.sockets.delay = (op, to, data) => {
        if (op !== 'post' || data !== 'f1' || duplicate) return undefined;
        // While f1 is being posted, Lambda runs the same job again, and ra sends f6.
        const job = w.deliveries.jobs[0]!;
        duplicate = w.handlers.deliver(job).then(() => w.send('ra', 'f6'));
        return duplicate;
      };
      await heldThenPaired();
      await w.settled();
      await duplicate;
      await w.settled();
      expect(w.sockets.received('rb')).toEqual(frames(6));
      expect(w.errors).toEqual([]);
    });

    it('closes the pair when it finds the claim of a deliverer that died, never posting it twice', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      for (const frame of frames(3)) await w.send('ra', frame);
      // A deliverer claimed f1…f3 and died mid-way (its invocation timed out): which of them
      // reached the peer is unknown.
      expect(await w.store.relays.claimHeld('ra', 0, 3, { at: Date.now() })).toBe(true);
      await w.relay('rb', b, a, key);
      await w.settled();
      expect(w.sockets.received('rb')).toEqual([]); // the claim may still be at work
      expect(w.sockets.closed).toEqual([]);
      w.advance(DELIVER_TIMEOUT_MS + 1_000);
      // Lambda retries the timed-out invocation: posting the claim again could send one twice.
      await w.handlers.deliver(w.deliveries.jobs[0]!);
      expect(w.sockets.received('rb')).toEqual([]);
      expect(w.sockets.closed.sort()).toEqual(['ra', 'rb']);
      await Promise.all([w.disconnect('ra'), w.disconnect('rb')]);
      await w.relay('ra2', a, b, key);
      await pairsAfresh('ra2', a, b, key);
    });

    const vanishing: { step: string; at: (data?: string) => boolean }[] = [
      { step: 'before the first held frame is posted', at: (data) => data === 'f1' },
      { step: 'after some held frames were posted', at: (data) => data === 'f3' },
    ];
    for (const { step, at } of vanishing)
      it(`closes the holding socket when its new peer vanishes ${step}, and both pair afresh`, async () => {
        // rb vanishes without $disconnect: every post to it answers 410 from then on. Its
        // $connect was a moment ago, so 410 may first mean "not ready": the deliverer waits out
        // the grace (the clock jumps here), then treats it as gone.
        w.sockets.beforeCall = (op, to, data) => {
          if (op !== 'post' || to !== 'rb' || !at(data)) return;
          w.sockets.open.delete('rb');
          w.advance(PAIRING_GRACE_MS);
        };
        const { a, b, key } = await heldThenPaired();
        await w.settled();
        const got = w.sockets.received('rb');
        expect(got).toEqual(frames(got.length)); // a prefix, in order, nothing twice
        expect(w.sockets.closed).toEqual(['ra']);
        expect(await s.store.connections.getConnection('rb')).toBeUndefined();
        w.sockets.beforeCall = undefined;
        await w.disconnect('ra');
        expect(await s.store.relays.listHeld('ra')).toEqual([]);
        await w.relay('ra2', a, b, key);
        await pairsAfresh('ra2', a, b, key);
        expect(w.errors).toEqual([]);
      });

    it('closes the sender when its peer vanishes after the direct path opened', async () => {
      const { a, b, key } = await heldThenPaired();
      await w.settled();
      w.sockets.open.delete('rb');
      w.advance(PAIRING_GRACE_MS);
      await w.send('ra', 'f6');
      expect(w.sockets.received('rb')).toEqual(frames(5));
      expect(w.sockets.closed).toEqual(['ra']);
      await w.disconnect('ra');
      await w.relay('ra2', a, b, key);
      await pairsAfresh('ra2', a, b, key);
      expect(w.errors).toEqual([]);
    });

    it('counts only frames not yet delivered against the bound: frames held while flushing are kept', async () => {
      const bound = HAND_OVER_SLACK + 10;
      const small = openWorld(s, { limits: { maxHeldFrames: bound } });
      try {
        const [a, b, key] = ids();
        await small.relay('ra', a, b, key);
        for (const frame of frames(2)) await small.send('ra', frame);
        // Just before each write that would open the direct path, ra sends more: too many to
        // join f1 and f2 while those are posted (the path stays shut), then 8 more while those
        // are posted. Counting posted frames too, the last 8 would be over the bound.
        const first = frames(HAND_OVER_SLACK + 2, 3);
        const second = frames(8, HAND_OVER_SLACK + 5);
        const beforeFlushing = (pause: () => Promise<void>) =>
          small.faults.add({
            command: 'UpdateItemCommand',
            match: (input) => input.includes('delivered = seq, flushed = :yes'),
            pause,
          });
        beforeFlushing(async () => {
          for (const frame of first) await small.send('ra', frame);
        });
        beforeFlushing(async () => {
          for (const frame of second) await small.send('ra', frame);
        });
        await small.relay('rb', b, a, key);
        await small.settled();
        await small.send('ra', 'last');
        expect(small.faults.pending()).toEqual([]);
        expect(small.sockets.received('rb')).toEqual([...frames(2), ...first, ...second, 'last']);
        expect(small.sockets.closed).toEqual([]);
      } finally {
        await small.settled();
        small.close();
      }
    });

    it('opens the direct path with the last held post, so a reply sent as the deliverer cleans up goes straight', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      await w.send('ra', 'f1');
      // ra answers as soon as its first frame was delivered: while the deliverer removes it.
      w.faults.add({
        command: 'BatchWriteItemCommand',
        match: () => true,
        pause: () => w.send('ra', 'f2'),
      });
      await w.relay('rb', b, a, key);
      await w.settled();
      expect(w.faults.pending()).toEqual([]);
      expect(w.sockets.received('rb')).toEqual(['f1', 'f2']);
      // One round of held frames: f2 was never held (held again, the deliverer would go round
      // once per frame of a steady stream, and never hand over).
      expect(w.faults.commands.filter((name) => name === 'BatchWriteItemCommand')).toHaveLength(1);
      expect(w.sockets.closed).toEqual([]);
    });

    const dbSteps: { step: string; command: string; match: (input: string) => boolean }[] = [
      {
        step: 'reading the held frames (before claiming)',
        command: 'QueryCommand',
        match: (input) => input.includes('"H#'),
      },
      {
        step: 'claiming them',
        command: 'UpdateItemCommand',
        match: (input) => input.includes('claimedAt') && input.includes('delivered'),
      },
    ];
    for (const { step, command, match } of dbSteps)
      it(`delivers every frame once when DynamoDB fails ${step}: the deliverer retries at once`, async () => {
        w.faults.add({ command, match });
        await heldThenPaired();
        await w.settled();
        await w.send('ra', 'f6');
        expect(w.faults.pending()).toEqual([]);
        // Not left to Lambda's retry a minute later: this direction would stall meanwhile.
        expect(w.deliveries.failures).toEqual([]);
        expect(w.sockets.received('rb')).toEqual(frames(6));
        expect(w.sockets.closed).toEqual([]);
      });

    it('closes both sockets when DynamoDB fails after the frames were posted (recording it)', async () => {
      w.faults.add({
        command: 'UpdateItemCommand',
        match: (input) => input.includes('SET sent = :upTo'),
        fault: 'server error',
      });
      await heldThenPaired();
      await w.settled();
      expect(w.faults.pending()).toEqual([]);
      // Every frame was posted once; the pair could not be recorded as flushed, so it is closed.
      expect(w.sockets.received('rb')).toEqual(frames(5));
      expect(w.sockets.closed.sort()).toEqual(['ra', 'rb']);
    });

    const holdSteps: {
      step: string;
      rule: Parameters<World['faults']['add']>[0];
      /** Whether a counter is left without its frame (the deliverer waits, then skips it). */
      gap: boolean;
    }[] = [
      {
        step: 'the held-frame counter (nothing written)',
        rule: { command: 'UpdateItemCommand', match: (input) => input.includes('ADD seq') },
        gap: false,
      },
      {
        step: 'the held-frame counter (written, but the answer lost)',
        rule: {
          command: 'UpdateItemCommand',
          match: (input) => input.includes('ADD seq'),
          after: true,
        },
        gap: true,
      },
      {
        step: 'between the counter and the frame itself',
        rule: { command: 'PutItemCommand', match: (input) => input.includes('"H#') },
        gap: false,
      },
    ];
    for (const { step, rule, gap } of holdSteps)
      it(`holds the frame once when holding fails at ${step}; the pair forms and flushes`, async () => {
        const [a, b, key] = ids();
        await w.relay('ra', a, b, key);
        await w.send('ra', 'f1');
        w.faults.add(rule);
        // Retried within the invocation, which never fails (API Gateway would write its
        // internal-error frame into the stream).
        await w.send('ra', 'retried');
        expect(w.faults.pending()).toEqual([]);
        await w.send('ra', 'f2');
        // A counter taken without its frame keeps the deliverer waiting, then it skips it: the
        // frame itself was held again under a later number.
        await w.impatiently(async () => {
          await w.relay('rb', b, a, key);
          await w.settled();
        });
        await w.send('ra', 'f3');
        await w.send('rb', 'back');
        expect(w.sockets.received('rb')).toEqual(['f1', 'retried', 'f2', 'f3']);
        expect(w.sockets.received('ra')).toEqual(['back']);
        expect(w.sockets.closed).toEqual([]);
        expect(w.errors.map((line) => line.message)).toEqual(
          gap
            ? ['a held frame was not written in time: skipped (a late write closes the pair)']
            : [],
        );
      });
  });

  describe('introductions', () => {
    const intro = (id: string, keys: string[]) => ({ type: 'Introduction', id, keys });
    const peers = (n: number) => Array.from({ length: n }, (_, i) => `p${i}-${tag()}`);

    it('never leaves a peer holding a key it is not indexed under when indexing fails', async () => {
      const [p, q] = peers(2) as [string, string];
      const key = `doc-${tag()}`;
      await w.introduce('cp', p);
      // Throttled past the route's budget: each attempt moves the clock on a second.
      w.faults.add({
        command: 'BatchWriteItemCommand',
        fault: 'throughput exceeded',
        times: 1_000,
        onFault: () => w.advance(1_000),
      });
      await w.join('cp', key);
      expect(w.sockets.received('cp').map((data) => JSON.parse(data) as unknown)).toEqual([
        { type: 'Error', error: MESSAGE_FAILED },
      ]);
      expect(w.sockets.closed).toEqual(['cp']);
      w.faults.clear();
      w.sockets.posts.length = 0;
      // The Join failed as a whole: P does not hold the key…
      expect((await s.store.peers.getPeer(p))?.keys).toEqual([]);
      // …and once its client reconnects and joins again, a later joiner finds it.
      await w.disconnect('cp');
      await w.introduce('cp2', p);
      await w.join('cp2', key);
      await w.introduce('cq', q);
      await w.join('cq', key);
      expect(introductionsOf(w, 'cq')).toEqual([{ type: 'Introduction', id: p, keys: [key] }]);
      expect(introductionsOf(w, 'cp2')).toEqual([{ type: 'Introduction', id: q, keys: [key] }]);
    });

    it('introduces every other pair when posting one introduction fails past the SDK’s retries', async () => {
      // More peers than introductions run at once (16), so one failure could stop a worker.
      const ids = peers(25);
      const key = `doc-${tag()}`;
      for (const id of ids.slice(1)) {
        await w.introduce(`c-${id}`, id);
        await w.join(`c-${id}`, key);
      }
      w.sockets.posts.length = 0;
      const [joiner, unlucky] = [ids[0]!, ids[3]!];
      w.sockets.fail('post', 'throttled', (to) => to === `c-${unlucky}`);
      // The failure comes at once; every other post takes a moment, as over the network.
      w.sockets.delay = (op, to) =>
        op === 'post' && to !== `c-${unlucky}`
          ? new Promise((done) => setTimeout(done, 5))
          : undefined;
      await w.introduce(`c-${joiner}`, joiner);
      await w.join(`c-${joiner}`, key);
      // Checked the moment the invocation ends: on Lambda, work left running then is frozen.
      const others = ids.slice(1).filter((id) => id !== unlucky);
      const introduced = others.filter(
        (id) =>
          JSON.stringify(introductionsOf(w, `c-${id}`)) === JSON.stringify([intro(joiner, [key])]),
      );
      expect(introduced).toEqual(others);
      expect(
        introductionsOf(w, `c-${joiner}`)
          .map((message) => message.id)
          .sort(),
      ).toEqual(others.sort());
      // The sender learns of the failure from an Error frame, not API Gateway's.
      expect(w.sockets.received(`c-${joiner}`).at(-1)).toBe(
        JSON.stringify({ type: 'Error', error: MESSAGE_FAILED }),
      );
      // The unlucky peer's socket is fine: it was not taken for gone.
      expect(await s.store.connections.getConnection(`c-${unlucky}`)).toBeDefined();
      expect((await s.store.peers.getPeer(unlucky))?.keys).toEqual([key]);
    });
  });

  describe('repeated invocations', () => {
    // API Gateway does not retry a WebSocket route's integration, but Lambda retries a failed
    // asynchronous invocation (the deliver function) and may deliver one twice; a client may
    // also repeat itself. Every handler must be safe to run again.
    it('treats a repeated $connect of a paired relay socket as done: it never waits again', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      await w.relay('rb', b, a, key);
      expect(await w.connect('rb', relayQuery(b, a, key))).toBe(200);
      // rb is not back in the rendezvous: a new a-side socket waits instead of claiming it.
      await w.relay('ra2', a, b, key);
      expect(await s.store.connections.getConnection('ra2')).not.toHaveProperty('peer');
      expect(await s.store.connections.getConnection('rb')).toMatchObject({ peer: 'ra' });
      await w.send('ra', 'still paired');
      expect(w.sockets.received('rb')).toEqual(['still paired']);
    });

    it('lets a repeated $connect of a waiting relay socket wait, once', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      expect(await w.connect('ra', relayQuery(a, b, key))).toBe(200);
      expect(w.sockets.closed).toEqual([]); // it did not replace itself
      await pairsAfresh('ra', a, b, key);
    });

    it('ignores a repeated $disconnect and a repeated introduction $connect', async () => {
      const [p, q, key] = ids();
      await w.introduce('cp', p);
      await w.introduce('cp', p);
      await w.join('cp', key);
      await w.introduce('cq', q);
      await w.join('cq', key);
      expect(introductionsOf(w, 'cp')).toEqual([{ type: 'Introduction', id: q, keys: [key] }]);
      await w.disconnect('cq');
      await w.disconnect('cq');
      expect(await s.store.peers.getPeer(q)).toBeUndefined();
      expect((await s.store.peers.getPeer(p))?.keys).toEqual([key]);
    });

    it('delivers held frames once when the deliver function runs twice, one after the other', async () => {
      const [a, b, key] = ids();
      await w.relay('ra', a, b, key);
      for (const frame of ['f1', 'f2']) await w.send('ra', frame);
      await w.relay('rb', b, a, key);
      await w.settled();
      await w.handlers.deliver(w.deliveries.jobs[0]!);
      await w.send('ra', 'f3');
      expect(w.sockets.received('rb')).toEqual(['f1', 'f2', 'f3']);
    });
  });

  it('closes the socket with held frames when the deliver function cannot be invoked; both pair afresh', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    w.deliveries.failInvoke = 1;
    await expect(w.connect('rb', relayQuery(b, a, key))).rejects.toThrow('Rate exceeded');
    expect(w.sockets.closed).toEqual(['ra']);
    await w.disconnect('ra');
    expect(await s.store.relays.listHeld('ra')).toEqual([]);
    await w.relay('ra2', a, b, key);
    await pairsAfresh('ra2', a, b, key);
    onlyInjectedErrors();
  });

  it('treats a 410 from a peer that connected long ago as gone at once, not after the pairing grace', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    w.advance(PAIRING_GRACE_MS); // ra's $connect returned long ago
    await w.relay('rb', b, a, key); // pairs with ra, just now
    w.sockets.open.delete('ra'); // then ra vanishes; its $disconnect never comes

    await w.send('rb', 'to nobody');

    // One attempt: ra cannot be inside its $connect any more, so 410 means gone.
    expect(w.sockets.calls.filter((call) => call.to === 'ra' && call.op === 'post')).toEqual([
      { op: 'post', to: 'ra', outcome: 'gone' },
    ]);
    expect(w.sockets.closed).toEqual(['rb']);
    expect(await s.store.connections.getConnection('ra')).toBeUndefined();
    await w.disconnect('rb');
    await w.relay('ra2', a, b, key);
    await pairsAfresh('ra2', a, b, key);
    expect(w.errors).toEqual([]);
  });

  it('retries a 410 from a peer still inside its $connect until it opens', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    // rb's $connect pairs it but has not returned: API Gateway answers 410 for rb meanwhile.
    expect(await w.connectOnly('rb', relayQuery(b, a, key))).toBe(200);
    let attempts = 0;
    w.sockets.beforeCall = (op, to) => {
      if (op === 'post' && to === 'rb' && ++attempts === 3) w.sockets.open.add('rb');
    };
    await w.send('ra', 'early');
    expect(w.sockets.received('rb')).toEqual(['early']);
    expect(attempts).toBe(3);
    expect(w.sockets.closed).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it('removes held frames before closing the peer, so a failing close leaves none behind', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    // Paired, but the deliverer has not run yet: ra still holds its frame.
    const handlers = w.deliveries.handlers!;
    w.deliveries.handlers = { ...handlers, deliver: () => Promise.resolve() };
    await w.relay('rb', b, a, key);
    w.sockets.fail('close', 'throttled', (to) => to === 'rb');

    await expect(w.disconnect('ra')).rejects.toThrow('(injected)');

    expect(await s.store.relays.listHeld('ra')).toEqual([]);
    expect(await s.store.connections.getConnection('ra')).toBeUndefined();
    // rb learns on its next frame that its peer is gone, and the ids pair afresh.
    await w.send('rb', 'anyone?');
    expect(w.sockets.closed).toEqual(['rb']);
    await w.disconnect('rb');
    w.deliveries.handlers = handlers;
    await w.relay('ra2', a, b, key);
    await pairsAfresh('ra2', a, b, key);
  });
});

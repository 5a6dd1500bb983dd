/**
 * Faults injected into the real handlers over a real DynamoDB API (./support/world.ts): DynamoDB
 * failing after the SDK's retries, the management API answering 410, 429 or 5xx, the deliver
 * function failing, at every step of pairing and flushing. After each fault nothing is stuck: the
 * sockets still open work, and new sockets on the same ids pair and are introduced afresh.
 * (Faults below the SDK's retries, which the SDK absorbs, are in ./retries.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { describeEachBackend, openStore, type OpenStore } from '../support/dynamodb.js';
import type { DbFault } from './support/faults.js';
import { openWorld, type World } from './support/world.js';

describeEachBackend('injected faults', (backend) => {
  let s: OpenStore;
  let w: World;
  beforeEach(async () => {
    s = await openStore(backend);
    w = openWorld(s);
  });
  afterEach(async () => {
    await w.settled();
    w.close();
    await s.close();
  });

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
        expect(await s.store.getConnection(rb)).toBeUndefined();

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

  it('closes the socket with held frames when the deliver function cannot be invoked; both pair afresh', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    await w.send('ra', 'held');
    w.deliveries.failInvoke = 1;
    await expect(w.connect('rb', relayQuery(b, a, key))).rejects.toThrow('Rate exceeded');
    expect(w.sockets.closed).toEqual(['ra']);
    await w.disconnect('ra');
    expect(await s.store.listHeld('ra')).toEqual([]);
    await w.relay('ra2', a, b, key);
    await pairsAfresh('ra2', a, b, key);
    onlyInjectedErrors();
  });

  it('treats a 410 from a peer that connected long ago as gone at once, not after the pairing grace', async () => {
    const [a, b, key] = ids();
    await w.relay('ra', a, b, key);
    w.advance(PAIRING_GRACE_MS); // ra's $connect returned long ago
    w.sockets.open.delete('ra'); // ra vanished; its $disconnect never comes
    await w.relay('rb', b, a, key); // pairs with ra's record, just now

    await w.send('rb', 'to nobody');

    // One attempt: ra cannot be inside its $connect any more, so 410 means gone.
    expect(w.sockets.calls.filter((call) => call.to === 'ra')).toEqual([
      { op: 'post', to: 'ra', outcome: 'gone' },
    ]);
    expect(w.sockets.closed).toEqual(['rb']);
    expect(await s.store.getConnection('ra')).toBeUndefined();
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

    expect(await s.store.listHeld('ra')).toEqual([]);
    expect(await s.store.getConnection('ra')).toBeUndefined();
    // rb learns on its next frame that its peer is gone, and the ids pair afresh.
    await w.send('rb', 'anyone?');
    expect(w.sockets.closed).toEqual(['rb']);
    await w.disconnect('rb');
    w.deliveries.handlers = handlers;
    await w.relay('ra2', a, b, key);
    await pairsAfresh('ra2', a, b, key);
  });
});

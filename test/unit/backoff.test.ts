/** The one backoff (lambda/core/backoff.ts) every retry and wait of the server goes through. */
import { BatchGetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoff, backoffFrom, pauses, retryThrown, settle } from '../../lambda/core/backoff.js';
import { DeadlineExceeded, withinInvocation } from '../../lambda/core/deadline.js';
import { harness, peerItem, peerKey, TABLE } from '../support/harness.js';

/** An attempt that records when (ms since `start`) it was called and answers from `answers`. */
function recorded<T>(answers: (call: number) => T) {
  const start = Date.now();
  const times: number[] = [];
  const attempt = vi.fn(() => {
    times.push(Date.now() - start);
    return Promise.resolve(answers(times.length));
  });
  return { attempt, times };
}

/** Runs `work` to its end under fake timers. */
async function settled<T>(work: Promise<T>) {
  const outcome = settle(() => work);
  await vi.runAllTimersAsync();
  return outcome;
}

describe('backoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('doubles its pause from `first` up to `max`', () => {
    const sequence = pauses({ first: 5, max: 100 });
    expect(Array.from({ length: 8 }, () => sequence.next().value)).toEqual([
      5, 10, 20, 40, 80, 100, 100, 100,
    ]);
  });

  it('tries again after each pause until an outcome needs no other attempt', async () => {
    const { attempt, times } = recorded((call) => call);
    const result = await settled(backoff({ first: 10, max: 1_000 }, attempt, (call) => call < 5));
    expect(result).toEqual({ ok: true, value: 5 });
    expect(times).toEqual([0, 10, 30, 70, 150]);
  });

  it('takes no pause that would end past `until`, and returns the last outcome', async () => {
    const start = Date.now();
    const { attempt, times } = recorded(() => 'gone');
    const result = await settled(
      backoff({ first: 10, max: 1_000, until: start + 5_000 }, attempt, () => true),
    );
    expect(result).toEqual({ ok: true, value: 'gone' });
    // 10 + 20 + … + 640 = 1,270 ms, then 1 s pauses: the next one would end at 5,270 ms.
    expect(times).toEqual([0, 10, 30, 70, 150, 310, 630, 1_270, 2_270, 3_270, 4_270]);
  });

  it('reads `until` on the clock it is given', async () => {
    let clock = 0;
    const { attempt } = recorded(() => 'again');
    const now = () => (clock += 100);
    await settled(backoff({ first: 10, max: 10, until: 1_000, now }, attempt, () => true));
    expect(attempt).toHaveBeenCalledTimes(10);
  });

  it('makes at most `attempts` attempts, with no pause after the last', async () => {
    const { attempt, times } = recorded(() => 'unprocessed');
    const result = await settled(
      backoff({ first: 40, max: 1_000, attempts: 4 }, attempt, () => true),
    );
    expect(result).toEqual({ ok: true, value: 'unprocessed' });
    expect(times).toEqual([0, 40, 120, 280]);
  });

  it('asks `again` only when another attempt may follow, with the pause before it', async () => {
    const { attempt } = recorded(() => 'again');
    const again = vi.fn((_outcome: string, _pause: number) => true);
    await settled(backoff({ first: 50, max: 200, attempts: 4 }, attempt, again));
    expect(again.mock.calls.map(([, pause]) => pause)).toEqual([50, 100, 200]);
  });

  it('waits for an asynchronous `again`, and stops when it declines', async () => {
    const { attempt } = recorded(() => 'gone');
    const mayRetry = vi.fn<() => Promise<boolean>>().mockResolvedValueOnce(true);
    mayRetry.mockResolvedValue(false);
    await settled(backoff({ first: 10, max: 1_000 }, attempt, mayRetry));
    expect(attempt).toHaveBeenCalledTimes(2);
    expect(mayRetry).toHaveBeenCalledTimes(2);
  });

  it('starts from an outcome in hand with a pause, or ends at once without an attempt', async () => {
    const { attempt, times } = recorded((call) => call);
    const result = await settled(
      backoffFrom(0, { first: 5, max: 100 }, attempt, (call) => call < 3),
    );
    expect(result).toEqual({ ok: true, value: 3 });
    expect(times).toEqual([5, 15, 35]);
    const none = vi.fn(() => Promise.resolve(1));
    expect(await backoffFrom(0, { first: 5, max: 100 }, none, () => false)).toBe(0);
    expect(none).not.toHaveBeenCalled();
  });

  it('retries thrown errors that are retryable, and returns the value that follows', async () => {
    const { attempt, times } = recorded((call) => {
      if (call < 3) throw new Error('throttled');
      return 'done';
    });
    // Thrown before any promise exists: retried all the same.
    const result = await settled(retryThrown({ first: 50, max: 1_000 }, attempt, () => true));
    expect(result).toEqual({ ok: true, value: 'done' });
    expect(times).toEqual([0, 50, 150]);
  });

  it('throws an error that is not retryable at once, and the last one once time runs out', async () => {
    const final = new Error('condition failed');
    const once = vi.fn(() => Promise.reject(final));
    const first = await settled(retryThrown({ first: 50, max: 1_000 }, once, () => false));
    expect(first).toEqual({ ok: false, error: final });
    expect(once).toHaveBeenCalledTimes(1);

    let calls = 0;
    const throttled = () => Promise.reject(new Error(`throttled ${++calls}`));
    const until = Date.now() + 1_000;
    const last = await settled(
      retryThrown({ first: 50, max: 1_000, until }, throttled, () => true),
    );
    // 50 + 100 + 200 + 400 = 750 ms; the next pause (800 ms) would end past `until`.
    expect(last).toEqual({ ok: false, error: new Error('throttled 5') });
  });

  it('ends with DeadlineExceeded instead of pausing past the invocation’s deadline', async () => {
    const { attempt } = recorded(() => 'again');
    const result = await settled(
      withinInvocation(500, () => backoff({ first: 100, max: 1_000 }, attempt, () => true)),
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toBeInstanceOf(DeadlineExceeded);
    // Pauses of 100 and 200 ms fit in 500 ms; the third (400 ms) would not.
    expect(attempt).toHaveBeenCalledTimes(3);
  });
});

describe('DynamoDB batches left unprocessed', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends again only what a BatchGetItem left unprocessed, after a pause', async () => {
    const h = harness();
    const items = ['p1', 'p2'].map((peerId) =>
      peerItem({
        peerId,
        current: `c-${peerId}`,
        sockets: [`c-${peerId}`],
        session: 's',
        keys: [],
      }),
    );
    h.db
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [items[0]!] },
        UnprocessedKeys: { [TABLE]: { Keys: [peerKey('p2')] } },
      })
      .resolves({ Responses: { [TABLE]: [items[1]!] } });
    const read = await settled(h.services.store.peers.getPeers(['p1', 'p2']));
    expect(read.ok && read.value.map((peer) => peer.peerId)).toEqual(['p1', 'p2']);
    const calls = h.db.commandCalls(BatchGetCommand);
    expect(calls[1]!.args[0].input.RequestItems![TABLE]!.Keys).toEqual([peerKey('p2')]);
  });

  it('gives up on index writes DynamoDB keeps leaving unprocessed, after 11 requests', async () => {
    const h = harness();
    h.db
      .on(BatchWriteCommand)
      .callsFake((input: { RequestItems: Record<string, unknown[]> }) =>
        Promise.resolve({ UnprocessedItems: input.RequestItems }),
      );
    const written = await settled(h.services.store.peers.indexKeys('p1', 's', ['k1', 'k2']));
    expect(written).toEqual({ ok: false, error: new Error('DynamoDB left writes unprocessed') });
    expect(h.db.commandCalls(BatchWriteCommand)).toHaveLength(11);
  });
});

/** The invocation deadline (lambda/core/deadline.ts) and the retry budget that narrows it. */
import { describe, expect, it } from 'vitest';
import {
  currentDeadline,
  DeadlineExceeded,
  pause,
  timeLeft,
  withinBudget,
  withinInvocation,
} from '../../lambda/core/deadline.js';
import { retryUntil } from '../../lambda/core/retry.js';
import { harness } from '../support/harness.js';

describe('deadlines', () => {
  it('lets a budget narrow the invocation’s deadline, never widen it', async () => {
    await withinInvocation(1_000, async () => {
      const invocation = currentDeadline()!.at;
      const widened = await withinBudget(60_000, () => Promise.resolve(currentDeadline()!.at));
      expect(widened).toBe(invocation);
      const narrowed = await withinBudget(100, () => Promise.resolve(currentDeadline()!.at));
      expect(narrowed).toBeLessThan(invocation);
      expect(narrowed - Date.now()).toBeLessThanOrEqual(100);
    });
    expect(currentDeadline()).toBeUndefined();
  });

  it('aborts the signal calls listen to when the deadline passes, with DeadlineExceeded', async () => {
    const reason = await withinInvocation(20, async () => {
      const { signal } = currentDeadline()!;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return signal.reason as unknown;
    });
    expect(reason).toBeInstanceOf(DeadlineExceeded);
  });

  it('ends a pause that would outlast the invocation at once, by throwing', async () => {
    await withinInvocation(1_000, async () => {
      await expect(pause(5_000)).rejects.toBeInstanceOf(DeadlineExceeded);
      await expect(pause(1)).resolves.toBeUndefined();
    });
  });

  it('lets a pause outlast a narrowed budget: only the invocation’s deadline ends pauses', async () => {
    await withinInvocation(1_000, () =>
      withinBudget(1, async () => {
        await expect(pause(20)).resolves.toBeUndefined();
      }),
    );
  });

  it('stops retrying once the invocation has no time left, instead of pausing past it', async () => {
    const { ctx } = harness();
    let attempts = 0;
    const started = Date.now();
    const retried = withinInvocation(300, () =>
      retryUntil(ctx, ctx.now() + 60_000, 'a call', () => {
        attempts++;
        return Promise.reject(new Error('throttled'));
      }),
    );
    await expect(retried).rejects.toThrow(DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(attempts).toBeGreaterThan(1);
  });

  it('runs each retried attempt within the retry budget, so the caller keeps its time after it', async () => {
    const { ctx } = harness();
    const budgets: number[] = [];
    const after = await withinInvocation(10_000, async () => {
      await retryUntil(ctx, ctx.now() + 500, 'a call', () => {
        budgets.push(timeLeft());
        return Promise.resolve();
      });
      return timeLeft();
    });
    expect(budgets[0]).toBeLessThanOrEqual(500);
    expect(after).toBeGreaterThan(5_000);
  });

  it('makes no deadline outside an invocation: the local gateway has no timeout to keep', async () => {
    expect(await withinBudget(100, () => Promise.resolve(currentDeadline()))).toBeUndefined();
  });
});

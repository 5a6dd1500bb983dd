import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { whenReady } from '../../lambda/core/readiness.js';

describe('whenReady', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries a 410 with growing pauses until the peer becomes ready', async () => {
    const start = Date.now();
    const times: number[] = [];
    const attempt = vi.fn(() => {
      times.push(Date.now() - start);
      return Promise.resolve(times.length < 5 ? ('gone' as const) : ('sent' as const));
    });
    const result = whenReady(attempt, start + 30_000);
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('sent');
    expect(times).toEqual([0, 10, 30, 70, 150]);
  });

  it('caps the pause at one second and answers gone once the deadline has passed', async () => {
    const start = Date.now();
    const attempt = vi.fn(() => Promise.resolve('gone' as const));
    const result = whenReady(attempt, start + 5_000);
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('gone');
    // Never past the deadline: the last attempt is made before it.
    expect(Date.now() - start).toBeLessThanOrEqual(5_000);
    expect(Date.now() - start).toBeGreaterThan(4_000);
    // 10 + 20 + … + 640 = 1270 ms, then 1 s pauses.
    expect(attempt).toHaveBeenCalledTimes(11);
  });

  it('stops retrying as soon as the socket can no longer be connecting', async () => {
    const attempt = vi.fn(() => Promise.resolve('gone' as const));
    const mayBeConnecting = vi
      .fn<() => Promise<boolean>>()
      .mockResolvedValueOnce(true)
      .mockResolvedValue(false);
    const result = whenReady(attempt, Date.now() + 30_000, Date.now, mayBeConnecting);
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('gone');
    expect(attempt).toHaveBeenCalledTimes(2);
    expect(mayBeConnecting).toHaveBeenCalledTimes(2);
  });

  it('answers gone at once when the deadline has passed already', async () => {
    const attempt = vi.fn(() => Promise.resolve('gone' as const));
    await expect(whenReady(attempt, Date.now() - 1)).resolves.toBe('gone');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('lets errors through without retrying', async () => {
    const attempt = vi.fn(() => Promise.reject(new Error('throttled')));
    await expect(whenReady(attempt, Date.now() + 30_000)).rejects.toThrow('throttled');
    expect(attempt).toHaveBeenCalledTimes(1);
  });
});

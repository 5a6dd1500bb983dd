/** Small helpers shared by the core. */
import { pause } from './deadline.js';

/** Waits `ms`; throws instead when the pause would outlast the invocation (deadline.ts). */
export const sleep = pause;

/** Runs `fn` over items with at most `limit` in flight; resolves with results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

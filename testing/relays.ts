/**
 * Holding a frame in the store in one step, as `$default` does in two (count, then write), for
 * the tests: `{ held: n }` when it was written under number n, `{ late: true }` when the
 * deliverer had skipped that number first, or why it could not be counted.
 */
import type { Limits } from '../lambda/core/limits.js';
import type { HeldCount, RelayStore } from '../lambda/core/store.js';

export type Held = { held: number } | { late: true } | Exclude<HeldCount, { seq: number }>;

export async function holdFrame(
  store: RelayStore,
  connectionId: string,
  body: string,
  receivedAt: number,
  limits: Limits,
): Promise<Held> {
  const counted = await store.countHeld(connectionId, Buffer.byteLength(body), limits);
  if (!('seq' in counted)) return counted;
  return (await store.writeHeld(connectionId, counted.seq, body, receivedAt))
    ? { held: counted.seq }
    : { late: true };
}

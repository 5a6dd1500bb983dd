/**
 * The one way the server waits and tries again: attempts with a pause between them that starts
 * at `first` ms and doubles up to `max`, until an outcome needs no other attempt, the attempts
 * run out, or the next pause would end past `until`. Each pause is deadline.ts's: one that would
 * outlast the invocation throws DeadlineExceeded instead, so no retry outlives its invocation.
 */
import { pause as sleep } from './deadline.js';

export interface Backoff {
  /** The first pause (ms). */
  readonly first: number;
  /** The longest pause (ms): each pause doubles the one before, up to this. */
  readonly max: number;
  /** No pause is taken that would end after this time (ms, on `now`). @default none */
  readonly until?: number;
  /** How many attempts at most, the first included. @default no limit */
  readonly attempts?: number;
  /** The clock `until` is on. @default Date.now */
  readonly now?: () => number;
}

/** The pauses of a backoff in turn: `first`, twice that, and so on up to `max`, then `max`. */
export function* pauses({ first, max }: Pick<Backoff, 'first' | 'max'>): Generator<number, never> {
  for (let pause = first; ; pause = Math.min(pause * 2, max)) yield pause;
}

/**
 * Whether another attempt should follow `outcome`, asked only when the attempts and `until`
 * leave room for one, with the pause that would come first: it may also decide from that (or
 * log that it retries).
 */
export type Again<T> = (outcome: T, pause: number) => boolean | Promise<boolean>;

/** Calls `attempt` until `again` declines its outcome, pausing between calls; the last outcome. */
export const backoff = async <T>(
  options: Backoff,
  attempt: () => Promise<T>,
  again: Again<T>,
): Promise<T> => backoffFrom(await attempt(), options, attempt, again);

/** Like {@link backoff}, from an outcome in hand: a pause comes before the first call. */
export async function backoffFrom<T>(
  outcome: T,
  options: Backoff,
  attempt: () => Promise<T>,
  again: Again<T>,
): Promise<T> {
  const { until = Infinity, attempts = Infinity, now = Date.now } = options;
  const next = pauses(options);
  for (let made = 1; ; made++) {
    const pause = next.next().value;
    if (made >= attempts || now() + pause > until || !(await again(outcome, pause))) return outcome;
    await sleep(pause);
    outcome = await attempt();
  }
}

/** An attempt's outcome, thrown errors included. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs an attempt to its outcome, so that a failed one can be weighed like any other. */
export async function settle<T>(attempt: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await attempt() };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Retries an attempt that fails by throwing, as long as `retryable` accepts its error (it may log
 * that it retries); then, or once the backoff runs out, throws the last error.
 */
export async function retryThrown<T>(
  options: Backoff,
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
): Promise<T> {
  const outcome = await backoff(
    options,
    () => settle(attempt),
    (settled) => !settled.ok && retryable(settled.error),
  );
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

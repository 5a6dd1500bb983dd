/**
 * Deadlines for the AWS calls of one invocation. The runtime runs each invocation within its
 * remaining time less a margin; a retry budget narrows it for its own attempts. The SDK clients
 * (lambda/clients.ts) abort every call, and every wait between the SDK's own retries, when the
 * innermost deadline passes, so no call outlives the budget it was made under.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setMaxListeners } from 'node:events';

/** Thrown by a call, or a pause, that the deadline it ran under cut short. */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

export interface Deadline {
  /** When (ms, Date.now()) the calls made under it must have ended. */
  readonly at: number;
  /** Aborted at `at`, with a DeadlineExceeded as its reason. */
  readonly signal: AbortSignal;
  /** The invocation's own deadline, which pauses respect (a narrowed one only bounds calls). */
  readonly invocationAt: number;
}

const current = new AsyncLocalStorage<Deadline>();

/** The deadline the calls made here run under; undefined outside any budget. */
export const currentDeadline = (): Deadline | undefined => current.getStore();

/** Runs one invocation: its AWS calls, and the pauses between them, end within `budgetMs`. */
export const withinInvocation = <T>(budgetMs: number, work: () => Promise<T>): Promise<T> =>
  runUntil(Date.now() + Math.max(budgetMs, 0), true, work);

/**
 * Runs `work` with its AWS calls bounded by `budgetMs` from now, and by the invocation's deadline
 * (a budget never widens it). A budget at or below zero fails every call at once. Outside an
 * invocation (the local gateway, tests) there is no timeout to keep, and it only runs `work`:
 * on Node 20 an AsyncLocalStorage in use slows every promise of the process.
 */
export const withinBudget = <T>(budgetMs: number, work: () => Promise<T>): Promise<T> =>
  runUntil(Date.now() + Math.max(budgetMs, 0), false, work);

/** How long (ms) the calls made here may still run; Infinity outside any budget. */
export const timeLeft = (): number => (current.getStore()?.at ?? Infinity) - Date.now();

async function runUntil<T>(until: number, invocation: boolean, work: () => Promise<T>) {
  const outer = current.getStore();
  if (!outer && !invocation) return work();
  const at = Math.min(until, outer?.at ?? Infinity);
  if (outer && at === outer.at) return work();
  const controller = new AbortController();
  // Every call in flight (64 introductions at a time) listens to this one signal.
  setMaxListeners(0, controller.signal);
  const timer = setTimeout(
    () => controller.abort(new DeadlineExceeded('the time budget for AWS calls ran out')),
    at - Date.now(),
  );
  const invocationAt = invocation ? at : (outer?.invocationAt ?? Infinity);
  try {
    return await current.run({ at, signal: controller.signal, invocationAt }, work);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits `ms`, unless the pause would end past the invocation's deadline: then it throws at once,
 * since no AWS call made after it could run anyway. A retry loop thus ends with its invocation.
 */
export async function pause(ms: number): Promise<void> {
  const deadline = current.getStore();
  if (deadline && Date.now() + ms >= deadline.invocationAt)
    throw new DeadlineExceeded(
      `no time left for a ${ms} ms pause before the invocation's deadline`,
    );
  await new Promise<void>((resolve) => setTimeout(resolve, ms));
}

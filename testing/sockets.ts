/**
 * The one in-memory management API: the `Messenger` the handlers post, close and look up sockets
 * through (lambda/core/messenger.ts), as API Gateway's @connections answers. The handlers' world
 * of the store and hardening tests (test/support/world.ts) uses it with faults, and the bench's
 * fan-out and held-frame sections (bench/fanout.ts, bench/held.ts) with a latency per call.
 *
 * - A socket can be written from the moment its $connect returned (the world adds it to `open`)
 *   until it closes; before and after, 410. With `alwaysOpen` (the bench, which calls the
 *   handlers without a gateway) every socket is writable until it is closed.
 * - `fail(...)` makes chosen posts, closes or lookups throw as the management API client does
 *   once its retries are used up (429, 5xx), or answer 410.
 * - Every call is recorded (`calls`), every post delivered (`posts`) and every close (`closed`).
 */
import type { Delivery, Messenger } from '../lambda/core/messenger.js';
import { sleep } from '../lambda/core/util.js';

export type SocketFault = 'gone' | 'throttled' | 'server error';

/** A management API call: PostToConnection, DeleteConnection, GetConnection. */
export type SocketOp = 'post' | 'close' | 'get';

interface SocketRule {
  op: SocketOp;
  match: (connectionId: string, data?: string) => boolean;
  times: number;
  fault: SocketFault;
}

export interface MemorySocketsOptions {
  /**
   * How long each call takes before it is answered (ms), as a PostToConnection from Lambda takes
   * tens of milliseconds. @default 0: answered at once
   */
  latencyMs?: number;
  /**
   * Every socket is writable, and active now, until it is closed, without being added to `open`.
   * @default false: writable only while in `open`, and active when last marked so
   */
  alwaysOpen?: boolean;
}

/** An error as the management API client throws it once its own retries are used up. */
export function managementError(fault: Exclude<SocketFault, 'gone'>): Error {
  const [name, status] =
    fault === 'throttled' ? ['LimitExceededException', 429] : ['InternalServerError', 500];
  return Object.assign(new Error(`${name} (injected)`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 3 },
  });
}

export class MemorySockets implements Messenger {
  /** The sockets that can be written (unless `alwaysOpen`). */
  readonly open = new Set<string>();
  /** Every frame delivered, in order, with when it arrived (performance.now()). */
  readonly posts: { to: string; data: string; at: number }[] = [];
  readonly closed: string[] = [];
  /** Every call, answered or failed, in order. */
  readonly calls: { op: SocketOp; to: string; outcome: Delivery | SocketFault }[] = [];
  /** The most posts in flight at once. */
  mostPostsInFlight = 0;
  /** Runs before each call is answered: a test may change the world there. */
  beforeCall?: (op: SocketOp, connectionId: string, data?: string) => void;
  /** Awaited before each call is answered: a test may hold a call while others run. */
  delay?: (op: SocketOp, connectionId: string, data?: string) => Promise<void> | undefined;
  /** When each socket last carried a frame (ms, on `clock`): set by `active` and by posts. */
  readonly activeAt = new Map<string, number>();
  /** The clock activity is stamped with: the world's handlers' clock. */
  clock: () => number = Date.now;

  private readonly rules: SocketRule[] = [];
  private readonly latencyMs: number;
  private readonly alwaysOpen: boolean;
  private postsInFlight = 0;

  constructor(options: MemorySocketsOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.alwaysOpen = options.alwaysOpen ?? false;
  }

  /** Makes the next `times` matching calls fail with `fault`. */
  fail(
    op: SocketOp,
    fault: SocketFault,
    match: (connectionId: string, data?: string) => boolean = () => true,
    times = 1,
  ): void {
    this.rules.push({ op, match, times, fault });
  }

  post(connectionId: string, data: string): Promise<Delivery> {
    return this.answer('post', connectionId, data);
  }

  close(connectionId: string): Promise<Delivery> {
    return this.answer('close', connectionId);
  }

  async isAlive(connectionId: string): Promise<boolean> {
    return (await this.answer('get', connectionId)) === 'sent';
  }

  async lastActiveAt(connectionId: string): Promise<number | 'gone'> {
    if ((await this.answer('get', connectionId)) === 'gone') return 'gone';
    return this.activeAt.get(connectionId) ?? (this.alwaysOpen ? this.clock() : 0);
  }

  /** The socket carried a frame now (the world's `send` marks its sender). */
  active(connectionId: string): void {
    this.activeAt.set(connectionId, this.clock());
  }

  /** What one socket received, in order. */
  received(connectionId: string): string[] {
    return this.posts.filter((post) => post.to === connectionId).map((post) => post.data);
  }

  /** How many calls on one socket were answered 410. */
  goneAnswers(connectionId: string): number {
    return this.calls.filter((call) => call.to === connectionId && call.outcome === 'gone').length;
  }

  private isOpen(connectionId: string): boolean {
    return this.alwaysOpen ? !this.closed.includes(connectionId) : this.open.has(connectionId);
  }

  private injected(op: SocketOp, to: string, data?: string): SocketFault | undefined {
    const rule = this.rules.find((r) => r.op === op && r.times > 0 && r.match(to, data));
    if (!rule) return undefined;
    rule.times--;
    return rule.fault;
  }

  private async answer(op: SocketOp, to: string, data?: string): Promise<Delivery> {
    if (op === 'post')
      this.mostPostsInFlight = Math.max(this.mostPostsInFlight, ++this.postsInFlight);
    try {
      if (this.latencyMs > 0) await sleep(this.latencyMs);
      await this.delay?.(op, to, data);
    } finally {
      if (op === 'post') this.postsInFlight--;
    }
    this.beforeCall?.(op, to, data);
    const fault = this.injected(op, to, data);
    if (fault) this.calls.push({ op, to, outcome: fault });
    if (fault === 'gone') return 'gone';
    if (fault) throw managementError(fault);
    if (!this.isOpen(to)) {
      this.calls.push({ op, to, outcome: 'gone' });
      return 'gone';
    }
    this.calls.push({ op, to, outcome: 'sent' });
    if (op === 'post') {
      this.posts.push({ to, data: data!, at: performance.now() });
      this.active(to);
    } else if (op === 'close') {
      this.open.delete(to);
      this.closed.push(to);
    }
    return 'sent';
  }
}

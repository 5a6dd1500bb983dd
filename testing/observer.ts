/**
 * Runs actions through the local gateway one at a time, each between quiescent points (no handler
 * running, counts steady), and records the AWS calls each made, as counted by sdk-calls.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Gateway } from '../local/gateway/index.js';
import {
  addStats,
  callsOf,
  difference,
  emptyStats,
  type CallStats,
  type Route,
  type SdkCallCounter,
  type Tally,
} from './sdk-calls.js';

/** What an operation cost, as measured. */
export interface OperationResult {
  readonly id: string;
  readonly name: string;
  /** What the counts are per, e.g. "per frame (mean of 20)". */
  readonly per: string;
  /** Calls by `${service} ${command}`, per operation. */
  readonly measured: Tally;
  /** Handler invocations per operation, by route. */
  readonly invocations: Partial<Record<Route, number>>;
  /** Local handler time (ms) of every invocation involved, by route. */
  readonly handlerMs: Partial<Record<Route, number[]>>;
  /** AWS calls in all, every service. */
  readonly calls: number;
}

const ROUTES: readonly Route[] = ['$connect', '$default', '$disconnect', 'deliver'];

/** What the counts were on either side of an action, and the invocations it set off. */
export interface Window {
  before: Map<Route, Tally>;
  after: Map<Route, Tally>;
  invocations: { route: Route; ms: number }[];
}

/** Waits for handler invocations and quiet, so that each action's calls are its own. */
export class Observer {
  readonly results: OperationResult[] = [];

  constructor(
    readonly gateway: Gateway,
    private readonly counter: SdkCallCounter,
  ) {}

  /** Waits until no handler runs and the counts stay put for a moment. */
  async quiesce(): Promise<void> {
    for (;;) {
      await this.gateway.settled();
      const before = this.counter.total();
      await sleep(40);
      await this.gateway.settled();
      if (this.counter.total() === before) return;
    }
  }

  /** Resolves once the handler invocations since `from` include `expected` of each route. */
  async invoked(from: number, expected: Partial<Record<Route, number>>): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const since = this.counter.invocations.slice(from);
      const missing = Object.entries(expected).filter(
        ([route, n]) => since.filter((one) => one.route === route).length < n,
      );
      if (missing.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`waited 30 s for ${missing.map(([r, n]) => `${n} ${r}`).join(', ')}`);
      await sleep(5);
    }
  }

  /**
   * Runs an action between two quiescent points and returns what it cost, by route. The action
   * is over once the handler invocations it sets off (`expected`) have run and all is quiet.
   */
  async observe(
    action: () => Promise<unknown>,
    expected: Partial<Record<Route, number>>,
  ): Promise<Window> {
    await this.quiesce();
    const before = snapshotByRoute(this.counter);
    const firstInvocation = this.counter.invocations.length;
    await action();
    await this.invoked(firstInvocation, expected);
    await this.quiesce();
    return {
      before,
      after: snapshotByRoute(this.counter),
      invocations: this.counter.invocations.slice(firstInvocation),
    };
  }

  /** Closes sockets outside any measurement and waits for their $disconnects. */
  async closeAll(sockets: { close(code: number): Promise<unknown> }[]): Promise<void> {
    const from = this.counter.invocations.length;
    await Promise.all(sockets.map((socket) => socket.close(1000)));
    await this.invoked(from, { $disconnect: sockets.length });
  }

  /** Records what a window cost as operation `id`, per `per` repetitions, on the given routes. */
  record(
    id: string,
    name: string,
    window: Window,
    options: { per?: number; perLabel?: string; routes?: readonly Route[] } = {},
  ): OperationResult {
    const per = options.per ?? 1;
    const routes = options.routes ?? ROUTES;
    const measured = difference(merge(window.after, routes), merge(window.before, routes), per);
    const ran = window.invocations.filter((one) => routes.includes(one.route));
    const handlerMs: Partial<Record<Route, number[]>> = {};
    const invocations: Partial<Record<Route, number>> = {};
    for (const route of new Set(ran.map((one) => one.route))) {
      handlerMs[route] = ran.filter((one) => one.route === route).map((one) => one.ms);
      invocations[route] = handlerMs[route].length / per;
    }
    const result: OperationResult = {
      id,
      name,
      per: options.perLabel ?? 'per operation',
      measured,
      invocations,
      handlerMs,
      calls: callsOf(measured),
    };
    this.results.push(result);
    return result;
  }
}

function snapshotByRoute(counter: SdkCallCounter): Map<Route, Tally> {
  return new Map(ROUTES.map((route) => [route, counter.snapshot(route)]));
}

/** One tally of the given routes' calls. */
function merge(byRoute: Map<Route, Tally>, routes: readonly Route[]): Tally {
  const out: Tally = new Map();
  for (const route of routes)
    for (const [key, stats] of byRoute.get(route) ?? new Map<string, CallStats>()) {
      const sum = out.get(key) ?? emptyStats();
      addStats(sum, stats);
      out.set(key, sum);
    }
  return out;
}

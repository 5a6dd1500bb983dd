/**
 * Counts the AWS calls the handlers make, at the SDK: a middleware on each real client
 * (DynamoDB, the @connections management API, Lambda) that the local gateway hands to
 * createServices. Each call is attributed to the route whose invocation made it (an
 * AsyncLocalStorage set around every handler), with its outcome and, for DynamoDB, the capacity
 * units it consumed as the table reported them.
 *
 * To get those units, the middleware asks DynamoDB for them (ReturnConsumedCapacity TOTAL): the
 * one change it makes to a request, which changes only what the response reports.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Handlers } from '../lambda/core/handlers.js';
import type { SdkClient } from '../lambda/runtime.js';

export type Service = 'DynamoDB' | '@connections' | 'Lambda';

export type Route = '$connect' | '$default' | '$disconnect' | 'deliver';

/** What one kind of call (service, command) added up to. */
export interface CallStats {
  calls: number;
  /** Calls that failed, by error name (ConditionalCheckFailedException, GoneException, …). */
  failed: Record<string, number>;
  readUnits: number;
  writeUnits: number;
}

/** Calls by `${service} ${command}`. */
export type Tally = Map<string, CallStats>;

const SERVICES: Record<string, Service> = {
  DynamoDBClient: 'DynamoDB',
  ApiGatewayManagementApiClient: '@connections',
  LambdaClient: 'Lambda',
};

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);

/**
 * AWS charges a conditional write that fails as a write of the item (1 WRU for the small items
 * here); the SDK reports no capacity for it, so each counts as one unit.
 */
const FAILED_WRITE_UNITS = 1;

interface Capacity {
  CapacityUnits?: number;
}

function unitsOf(output: unknown): number {
  const consumed = (output as { ConsumedCapacity?: Capacity | Capacity[] } | undefined)
    ?.ConsumedCapacity;
  if (!consumed) return 0;
  const all = Array.isArray(consumed) ? consumed : [consumed];
  return all.reduce((sum, one) => sum + (one.CapacityUnits ?? 0), 0);
}

interface Args {
  input: Record<string, unknown>;
}
interface Context {
  clientName?: string;
  commandName?: string;
}
type Next = (args: Args) => Promise<{ output: unknown }>;
interface StackLike {
  add(
    middleware: (next: Next, context: Context) => Next,
    options: { step: 'initialize'; name: string; priority: 'high' },
  ): void;
}

export const emptyStats = (): CallStats => ({ calls: 0, failed: {}, readUnits: 0, writeUnits: 0 });

export function addStats(into: CallStats, from: CallStats, factor = 1): void {
  into.calls += from.calls * factor;
  into.readUnits += from.readUnits * factor;
  into.writeUnits += from.writeUnits * factor;
  for (const [name, n] of Object.entries(from.failed))
    into.failed[name] = (into.failed[name] ?? 0) + n * factor;
}

/** after − before, dropping kinds of call that did not change; divided by `per`. */
export function difference(after: Tally, before: Tally, per = 1): Tally {
  const out: Tally = new Map();
  for (const [key, stats] of after) {
    const delta = emptyStats();
    addStats(delta, stats);
    const old = before.get(key);
    if (old) addStats(delta, old, -1);
    if (delta.calls === 0) continue;
    const scaled = emptyStats();
    addStats(scaled, delta, 1 / per);
    out.set(key, scaled);
  }
  return out;
}

export class SdkCallCounter {
  private readonly route = new AsyncLocalStorage<Route>();
  /** Calls by route, then by `${service} ${command}`. */
  private readonly byRoute = new Map<Route | 'other', Tally>();
  /** Every handler invocation's route and duration (ms), in the order they finished. */
  readonly invocations: { route: Route; ms: number }[] = [];

  /** For the gateway's instrumentClient option. */
  readonly instrument = (client: SdkClient): void => {
    (client.middlewareStack as unknown as StackLike).add(
      (next, context) => async (args) => {
        const service = SERVICES[context.clientName ?? ''] ?? context.clientName ?? 'unknown';
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        if (service === 'DynamoDB') args.input.ReturnConsumedCapacity ??= 'TOTAL';
        const stats = this.statsFor(this.route.getStore() ?? 'other', `${service} ${command}`);
        stats.calls++;
        try {
          const result = await next(args);
          const units = unitsOf(result.output);
          if (READS.has(command)) stats.readUnits += units;
          else stats.writeUnits += units;
          return result;
        } catch (error) {
          const name = (error as { name?: string } | null)?.name ?? 'Error';
          stats.failed[name] = (stats.failed[name] ?? 0) + 1;
          if (service === 'DynamoDB' && name === 'ConditionalCheckFailedException')
            stats.writeUnits += FAILED_WRITE_UNITS;
          throw error;
        }
      },
      { step: 'initialize', name: 'countSdkCalls', priority: 'high' },
    );
  };

  /** For the gateway's wrapHandlers option: runs each handler in its route's context, timed. */
  readonly wrapHandlers = (handlers: Handlers): Handlers => {
    const run = <T>(route: Route, work: () => Promise<T>): Promise<T> =>
      this.route.run(route, async () => {
        const started = performance.now();
        try {
          return await work();
        } finally {
          this.invocations.push({ route, ms: performance.now() - started });
        }
      });
    return {
      connect: (event) => run('$connect', () => handlers.connect(event)),
      message: (event) => run('$default', () => handlers.message(event)),
      disconnect: (event) => run('$disconnect', () => handlers.disconnect(event)),
      deliver: (job) => run('deliver', () => handlers.deliver(job)),
    };
  };

  private statsFor(route: Route | 'other', key: string): CallStats {
    let tally = this.byRoute.get(route);
    if (!tally) this.byRoute.set(route, (tally = new Map<string, CallStats>()));
    let stats = tally.get(key);
    if (!stats) tally.set(key, (stats = emptyStats()));
    return stats;
  }

  /** A copy of the counts so far: of one route, or of all routes together. */
  snapshot(route?: Route): Tally {
    const out: Tally = new Map();
    for (const [name, tally] of this.byRoute) {
      if (route && name !== route) continue;
      for (const [key, stats] of tally) {
        const sum = out.get(key) ?? emptyStats();
        addStats(sum, stats);
        out.set(key, sum);
      }
    }
    return out;
  }

  /** How many calls so far, all kinds together: of one route, or of all (and outside any). */
  total(route?: Route): number {
    return callsOf(this.snapshot(route));
  }
}

/** The number of calls of one service (or all) in a tally. */
export function callsOf(tally: Tally, service?: Service): number {
  let n = 0;
  for (const [key, stats] of tally) if (!service || key.startsWith(`${service} `)) n += stats.calls;
  return n;
}

export function unitsIn(tally: Tally): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const stats of tally.values()) {
    read += stats.readUnits;
    write += stats.writeUnits;
  }
  return { read, write };
}

/**
 * DynamoDB faults as the store sees them once the SDK has given up retrying: a middleware on the
 * client's initialize step (outside the retry middleware) fails chosen commands. A fault may
 * strike before the request is sent (nothing was written) or after it succeeded (the write
 * happened, but the caller sees an error, as when a response is lost).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export type DbFault = 'throttled' | 'throughput exceeded' | 'server error';

export interface DbRule {
  /** The low-level command, e.g. 'PutItemCommand', 'UpdateItemCommand'. */
  command: string;
  /** Matches the command's input, as JSON (e.g. a key prefix such as '"H#'). */
  match?: (input: string) => boolean;
  /** How many matching calls fail. @default 1 */
  times?: number;
  fault?: DbFault;
  /** Fail after the request succeeded: the write is done, the caller sees an error. */
  after?: boolean;
  /** Runs when the fault strikes. */
  onFault?: () => void;
  /** No fault: awaits this before the command is sent (a test acts in the gap), then sends it. */
  pause?: () => Promise<void>;
}

/** The error the DynamoDB client throws for a fault. */
export function dbError(fault: DbFault): Error {
  const [name, status, message] =
    fault === 'throttled'
      ? ['ThrottlingException', 400, 'Rate of requests exceeds the allowed throughput.']
      : fault === 'throughput exceeded'
        ? [
            'ProvisionedThroughputExceededException',
            400,
            'The level of configured provisioned throughput for the table was exceeded.',
          ]
        : ['InternalServerError', 500, 'Internal server error'];
  return Object.assign(new Error(`${message} (injected)`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 4 },
  });
}

const READS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand']);

export class DbFaults {
  private readonly rules: (DbRule & { left: number })[] = [];
  /** Every command sent, by name, in order. */
  readonly commands: string[] = [];
  /** How many faults struck. */
  struck = 0;
  /** Reads sent without ConsistentRead (GetItem, Query, BatchGetItem), by command name. */
  readonly eventualReads: string[] = [];

  constructor(client: DynamoDBClient) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = context.commandName ?? 'unknown';
        this.commands.push(name);
        if (READS.has(name) && !JSON.stringify(args.input).includes('"ConsistentRead":true'))
          this.eventualReads.push(name);
        const rule = this.take(name, args.input);
        if (!rule) return next(args);
        if (rule.pause) {
          await rule.pause();
          return next(args);
        }
        this.struck++;
        rule.onFault?.();
        if (rule.after) await next(args);
        throw dbError(rule.fault ?? 'throttled');
      },
      { step: 'initialize', name: 'injectFaults', priority: 'high' },
    );
  }

  /** Adds a rule; rules are matched in the order they were added. */
  add(rule: DbRule): void {
    this.rules.push({ ...rule, left: rule.times ?? 1 });
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** Rules that have not struck as often as asked. */
  pending(): DbRule[] {
    return this.rules.filter((rule) => rule.left > 0);
  }

  private take(name: string, input: unknown): (DbRule & { left: number }) | undefined {
    let json: string | undefined;
    for (const rule of this.rules) {
      if (rule.left <= 0 || rule.command !== name) continue;
      json ??= JSON.stringify(input, (_key, value: unknown) =>
        value instanceof Set ? [...(value as Set<unknown>)] : value,
      );
      if (rule.match && !rule.match(json)) continue;
      rule.left--;
      return rule;
    }
    return undefined;
  }
}

/**
 * Faults on the wire, below the SDK's retries: a middleware at the innermost end of each real
 * client's stack (deserialize step, low priority: inside the retry loop, after the request was
 * built and signed) answers chosen attempts with the HTTP response AWS sends for throttling or a
 * server error. The SDK's own deserializer turns it into its exception and its retry strategy
 * decides, exactly as with a response from AWS. Attach it with the local gateway's
 * `instrumentClient` option, which hands over every client the handlers make.
 */
import { Readable } from 'node:stream';
import { HttpResponse } from '@smithy/core/protocols';

export type Service = 'DynamoDB' | 'ApiGatewayManagementApi' | 'Lambda';

export type WireFault = 'throttled' | 'throughput exceeded' | 'limit exceeded' | '500' | '503';

export interface WireRule {
  service: Service;
  /** The command, e.g. 'UpdateItemCommand', 'PostToConnectionCommand'. @default any */
  command?: string;
  /** Only requests whose input, as JSON, passes this. @default any */
  match?: (input: string) => boolean;
  /** Fail one request in `every` (counted per rule, first attempts only). @default 1 */
  every?: number;
  /** How many attempts of a chosen request fail in a row. @default 1 */
  attempts?: number;
  /** How many requests to fail in all. @default Infinity */
  times?: number;
  faults: WireFault[];
}

interface Minimal {
  middlewareStack: {
    add(middleware: unknown, options: { step: string; name: string; priority: string }): void;
  };
  config: { serviceId?: string };
}

function response(service: Service, fault: WireFault): HttpResponse {
  const id = Math.random().toString(36).slice(2);
  let status: number;
  let type: string;
  switch (fault) {
    case 'throttled':
      [status, type] =
        service === 'DynamoDB' ? [400, 'ThrottlingException'] : [429, 'TooManyRequestsException'];
      break;
    case 'throughput exceeded':
      [status, type] = [400, 'ProvisionedThroughputExceededException'];
      break;
    case 'limit exceeded':
      [status, type] = [429, 'LimitExceededException'];
      break;
    case '500':
      [status, type] = [
        500,
        service === 'DynamoDB' ? 'InternalServerError' : 'InternalServerErrorException',
      ];
      break;
    case '503':
      [status, type] = [503, 'ServiceUnavailable'];
      break;
  }
  const body =
    service === 'DynamoDB'
      ? JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: 'injected' })
      : JSON.stringify({ message: 'injected' });
  const headers: Record<string, string> =
    service === 'DynamoDB'
      ? { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': id }
      : { 'content-type': 'application/json', 'x-amzn-errortype': type, 'x-amzn-requestid': id };
  return new HttpResponse({
    statusCode: status,
    headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    body: Readable.from([Buffer.from(body)]),
  });
}

export class WireFaults {
  private readonly rules: (WireRule & { seen: number; failed: number })[] = [];
  /** Attempts answered with a fault, per service. */
  readonly struck: Record<Service, number> = { DynamoDB: 0, ApiGatewayManagementApi: 0, Lambda: 0 };
  /** Attempts that reached the real endpoint, per service. */
  readonly passed: Record<Service, number> = { DynamoDB: 0, ApiGatewayManagementApi: 0, Lambda: 0 };
  /** Each client's maxAttempts, as configured. */
  readonly maxAttempts: Partial<Record<Service, number>> = {};

  add(rule: WireRule): void {
    this.rules.push({ ...rule, seen: 0, failed: 0 });
  }

  /** Removes every rule and zeroes the counts. */
  clear(): void {
    this.rules.length = 0;
    for (const service of Object.keys(this.struck) as Service[]) {
      this.struck[service] = 0;
      this.passed[service] = 0;
    }
  }

  /** Adds the middleware to a real SDK client (the gateway's `instrumentClient`). */
  attach = (client: unknown): void => {
    const sdk = client as Minimal & { config: { maxAttempts?: () => Promise<number> } };
    const service = sdk.config.serviceId as Service;
    void sdk.config.maxAttempts?.().then((n) => (this.maxAttempts[service] = n));
    // Per request: which attempt this is, and how many more of it must fail.
    const pending = new WeakMap<object, { left: number; fault: WireFault }>();
    sdk.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input: object; request: unknown }) => {
          let plan = pending.get(args.input);
          if (!plan) {
            const rule = this.rules.find(
              (r) =>
                r.service === service &&
                (r.command === undefined || r.command === context.commandName) &&
                r.failed < (r.times ?? Infinity) &&
                (r.match === undefined || r.match(JSON.stringify(args.input))),
            );
            if (rule && rule.seen++ % (rule.every ?? 1) === 0) {
              rule.failed++;
              plan = {
                left: rule.attempts ?? 1,
                fault: rule.faults[(rule.failed - 1) % rule.faults.length]!,
              };
            } else plan = { left: 0, fault: 'throttled' };
            pending.set(args.input, plan);
          }
          if (plan.left > 0) {
            plan.left--;
            this.struck[service]++;
            return { response: response(service, plan.fault), output: undefined };
          }
          this.passed[service]++;
          return next(args);
        },
      { step: 'deserialize', name: 'injectWireFaults', priority: 'low' },
    );
  };
}

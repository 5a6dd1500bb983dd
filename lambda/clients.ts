/**
 * How the handlers' AWS SDK clients talk HTTP: keep-alive sockets, as many as the core has calls
 * in flight, and every call bounded by the invocation's deadline (core/deadline.ts) without any
 * call site passing it. See docs/reliability.md, "Deadlines".
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  SMITHY_CONTEXT_KEY,
  type HandlerExecutionContext,
  type HttpHandlerOptions,
  type InitializeHandler,
  type InitializeHandlerArguments,
  type MetadataBearer,
  type MiddlewareStack,
} from '@smithy/types';
import { currentDeadline, DeadlineExceeded, type Deadline } from './core/deadline.js';

/**
 * How long an HTTP attempt's socket may stay silent. DynamoDB and `@connections` answer in tens
 * of milliseconds; an attempt that hangs is abandoned and retried by the SDK like any network
 * error, before the deliver function's retry budgets end. Counted from the socket's connection,
 * not from a wait for a free socket, and long enough that a slow answer is rarely taken for none:
 * a post retried after a timeout may arrive twice.
 */
export const ATTEMPT_TIMEOUT_MS = 5_000;

/** Adds the invocation's deadline to every HTTP attempt, beside the caller's own abort signal. */
class DeadlineHttpHandler extends NodeHttpHandler {
  override handle(
    request: Parameters<NodeHttpHandler['handle']>[0],
    options: HttpHandlerOptions = {},
  ) {
    const deadline = currentDeadline();
    if (!deadline) return super.handle(request, options);
    return super.handle(request, { ...options, abortSignal: joined(options, deadline) });
  }
}

const joined = ({ abortSignal }: HttpHandlerOptions, deadline: Deadline): AbortSignal =>
  abortSignal ? AbortSignal.any([abortSignal as AbortSignal, deadline.signal]) : deadline.signal;

/**
 * The HTTP handler for a client with up to `maxSockets` calls in flight: the SDK's default agent
 * opens at most 50 sockets and queues the rest, whatever concurrency the caller asks for.
 */
export function httpHandler(maxSockets: number): NodeHttpHandler {
  return new DeadlineHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    socketTimeout: ATTEMPT_TIMEOUT_MS,
  });
}

/** The part of an SDK client this module extends. */
interface WithMiddleware {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly middlewareStack: MiddlewareStack<any, any>;
}

/**
 * Bounds every call of `client` by the deadline it is made under: the SDK's pauses between its
 * own retries end at the deadline too (it reads the abort signal from the call's context), and
 * a call cut short throws DeadlineExceeded, named for the command, instead of a bare AbortError.
 */
export function boundByDeadlines<C extends WithMiddleware>(client: C): C {
  client.middlewareStack.add(
    (next: InitializeHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<object>) => {
        const deadline = currentDeadline();
        if (!deadline) return next(args);
        const call = `${context.clientName ?? 'AWS'} ${context.commandName ?? 'call'}`;
        if (deadline.signal.aborted) throw new DeadlineExceeded(`${call}: no time left`);
        const smithy = (context[SMITHY_CONTEXT_KEY] ??= {});
        smithy.abortSignal = joined(smithy, deadline);
        try {
          return await next(args);
        } catch (error) {
          if (deadline.signal.aborted && (error as Error | null)?.name === 'AbortError')
            throw new DeadlineExceeded(`${call}: cut short by its deadline`, { cause: error });
          throw error;
        }
      },
    { step: 'initialize', name: 'invocationDeadline', priority: 'high' },
  );
  return client;
}

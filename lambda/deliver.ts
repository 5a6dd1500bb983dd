/** Deferred delivery, invoked asynchronously after a pairing: held frames reach the new peer. */
import { handlersFromEnvironment, type LambdaInvocation } from './runtime.js';

const handlers = handlersFromEnvironment();

export const handler = (job: unknown, invocation: LambdaInvocation) =>
  handlers.deliver(job, invocation);

/** Deferred delivery, invoked asynchronously after a pairing: held frames reach the new peer. */
import { handlersFromEnvironment } from './runtime.js';

const handlers = handlersFromEnvironment();

export const handler = (job: unknown) => handlers.deliver(job);

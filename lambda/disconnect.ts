/** $disconnect: forgets the socket; closes a relay socket's peer. Best effort on AWS. */
import { handlersFromEnvironment, type LambdaInvocation } from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

const handlers = handlersFromEnvironment();

export const handler = (event: WebSocketEvent, invocation: LambdaInvocation) =>
  handlers.disconnect(event, invocation);

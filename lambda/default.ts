/** $default: a Join/Leave on an introduction socket, or a frame to relay. */
import { handlersFromEnvironment, type LambdaInvocation } from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

const handlers = handlersFromEnvironment();

export const handler = (event: WebSocketEvent, invocation: LambdaInvocation) =>
  handlers.message(event, invocation);

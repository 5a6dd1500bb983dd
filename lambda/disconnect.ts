/** $disconnect: forgets the socket; closes a relay socket's peer. Best effort on AWS. */
import { handlersFromEnvironment } from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

const handlers = handlersFromEnvironment();

export const handler = (event: WebSocketEvent) => handlers.disconnect(event);

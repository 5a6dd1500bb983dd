/** $connect: validates the query, records the socket, introduces or pairs. 400 refuses it. */
import { handlersFromEnvironment } from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

const handlers = handlersFromEnvironment();

export const handler = (event: WebSocketEvent) => handlers.connect(event);

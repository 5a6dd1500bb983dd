/** $connect: validates the query, records the socket, introduces or pairs. 400 refuses it. */
import { handlersFromEnvironment, lambdaDeferred } from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

// The one function that pairs sockets, and so the one that invokes the deliver function.
const handlers = handlersFromEnvironment(lambdaDeferred);

export const handler = (event: WebSocketEvent) => handlers.connect(event);

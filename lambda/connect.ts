/** $connect: validates the query, records the socket, introduces or pairs. 400 refuses it. */
import {
  handlersFromEnvironment,
  lambdaDeliveryInvoker,
  type LambdaInvocation,
} from './runtime.js';
import type { WebSocketEvent } from './core/handlers.js';

// The one function that pairs sockets, and so the one that invokes the deliver function.
const handlers = handlersFromEnvironment(lambdaDeliveryInvoker);

export const handler = (event: WebSocketEvent, invocation: LambdaInvocation) =>
  handlers.connect(event, invocation);

/**
 * The management API, `/{stage}/@connections/{id}`: POST sends a frame, GET describes the
 * connection, DELETE closes it, each with API Gateway's status codes and `x-amzn-ErrorType`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { CLOSE } from './close-codes.js';
import { closeWith, touch } from './connection.js';
import { answer, awsError, json, readBody } from './http.js';
import type { GatewayContext } from './state.js';

/** API Gateway's WebSocket limits (PostToConnection data and message payload: 128 KB). */
export const MAX_MESSAGE_BYTES = 128 * 1024;

function connectionIdOf(segments: string[]): string | undefined {
  try {
    return segments.length === 4 ? decodeURIComponent(segments[3]!) : undefined;
  } catch {
    return undefined;
  }
}

/** Answers one management API request; `segments` is its path split at `/`. */
export async function onManagement(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  segments: string[],
): Promise<void> {
  const { body, tooLarge } = await readBody(req, MAX_MESSAGE_BYTES);
  const connectionId = connectionIdOf(segments);
  if (segments[1] !== ctx.stage || !connectionId)
    return awsError(res, 403, 'ForbiddenException', 'Forbidden');
  const method = req.method ?? 'GET';
  if (!['POST', 'GET', 'DELETE'].includes(method))
    return awsError(res, 403, 'ForbiddenException', 'Forbidden');
  if (method === 'POST' && tooLarge)
    return awsError(res, 413, 'PayloadTooLargeException', 'Request entity too large');
  const connection = ctx.connections.get(connectionId);
  // Unknown, closing or closed, or still inside its $connect: API Gateway answers 410.
  if (
    !connection ||
    connection.state !== 'open' ||
    connection.socket?.readyState !== WebSocket.OPEN
  ) {
    ctx.log.debug('management API: gone', { connectionId, method, state: connection?.state });
    return awsError(res, 410, 'GoneException');
  }
  if (method === 'POST') {
    touch(connection);
    connection.socket.send(body, { binary: false });
    ctx.log.debug('frame sent', { connectionId, bytes: body.length });
    return answer(res, 200);
  }
  if (method === 'GET') {
    const { connectedAt, sourceIp, userAgent } = connection.facts;
    return answer(
      res,
      200,
      json({
        connectedAt: new Date(connectedAt).toISOString(),
        identity: { sourceIp, userAgent: userAgent ?? '' },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      }),
    );
  }
  closeWith(connection, CLOSE.DELETED);
  return answer(res, 204);
}

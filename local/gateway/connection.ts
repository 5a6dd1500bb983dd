/**
 * An open WebSocket: its frames go to `$default` (text only, each invocation concurrent, some
 * throttled or started late when the stage says so), its timers close it when idle or too old,
 * and its close, whoever starts it, ends in one teardown and one `$disconnect`.
 */
import type { RawData, WebSocket } from 'ws';
import {
  disconnectEvent,
  messageEvent,
  type ConnectionFacts,
  type MessageEvent,
} from '../events.js';
import { CLOSE, type CloseCause } from './close-codes.js';
import { json } from './http.js';
import type { Connection, GatewayContext } from './state.js';

/** An error frame in API Gateway's captured wording and spacing. */
function errorFrame(message: string, connectionId: string, requestId: string): string {
  return `{"message": ${json(message)}, "connectionId":${json(connectionId)}, "requestId":${json(requestId)}}`;
}

/**
 * API Gateway's frame for a message it throttled. AWS documents only "429 Too Many Requests"
 * (websocket-api-protect.html), not the frame's bytes: this is the captured internal-error frame
 * (spacing included) with that message, which is how API Gateway words its other error frames.
 */
export function tooManyRequestsFrame(connectionId: string, requestId: string): string {
  return errorFrame('Too Many Requests', connectionId, requestId);
}

/** A connection still inside its `$connect`, registered so the management API answers 410. */
export function addConnection(ctx: GatewayContext, facts: ConnectionFacts): Connection {
  let markClosed = () => undefined as void;
  const connection: Connection = {
    facts,
    state: 'connecting',
    lastActiveAt: facts.connectedAt,
    timers: [],
    closed: new Promise<void>((resolve) => (markClosed = resolve)),
    markClosed: () => markClosed(),
  };
  ctx.connections.set(facts.connectionId, connection);
  return connection;
}

/** The one teardown: timers stopped, forgotten by the gateway, anyone awaiting `closed` told. */
export function closeConnection(ctx: GatewayContext, connection: Connection): void {
  for (const timer of connection.timers) clearTimeout(timer);
  connection.state = 'closed';
  ctx.connections.delete(connection.facts.connectionId);
  connection.markClosed();
}

/** The gateway closes an open socket, once, for `cause`; its close event does the rest. */
export function closeWith(connection: Connection, cause: CloseCause): void {
  if (connection.state !== 'open' || connection.closing) return;
  connection.closing = cause;
  connection.socket?.close(cause.code, cause.frameReason);
}

/** A frame went either way: the socket is not idle. */
export function touch(connection: Connection): void {
  connection.lastActiveAt = Date.now();
  connection.timers[0]?.refresh();
}

/** Hands `$disconnect` its event, unless the gateway drops them (as AWS may). */
export function disconnect(
  ctx: GatewayContext,
  connection: Connection,
  code: number,
  reason: string,
): void {
  if (ctx.dropDisconnects) return;
  ctx.work.track(
    '$disconnect',
    ctx.handlers.disconnect(disconnectEvent(connection.facts, code, reason, Date.now())),
  );
}

/** The handshake completed: the socket is open, timed and listened to. */
export function openConnection(
  ctx: GatewayContext,
  connection: Connection,
  socket: WebSocket,
): void {
  connection.state = 'open';
  connection.socket = socket;
  connection.lastActiveAt = Date.now();
  const { connectionId } = connection.facts;
  connection.timers.push(
    setTimeout(() => closeWith(connection, CLOSE.IDLE), ctx.idleTimeoutMs),
    setTimeout(() => closeWith(connection, CLOSE.MAX_DURATION), ctx.maxConnectionMs),
  );
  socket.on('message', (data: RawData, isBinary: boolean) =>
    onFrame(ctx, connection, data, isBinary),
  );
  socket.on('error', (error: Error & { code?: string }) => {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') connection.closing ??= CLOSE.TOO_BIG;
    else ctx.log.debug('socket error', { connectionId, error });
  });
  socket.on('close', (code: number, reason: Buffer) => onClosed(ctx, connection, code, reason));
}

function onFrame(ctx: GatewayContext, connection: Connection, data: RawData, isBinary: boolean) {
  if (connection.closing) return;
  if (isBinary) {
    closeWith(connection, CLOSE.BINARY);
    return;
  }
  touch(connection);
  const { connectionId } = connection.facts;
  const bytes = Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data);
  ctx.log.debug('frame received', { connectionId, bytes: bytes.length });
  const event = messageEvent(connection.facts, bytes.toString(), Date.now());
  if (ctx.bucket && !ctx.bucket.take()) {
    // Dropped before any integration runs; only the sender hears of it.
    ctx.log.debug('message throttled', { connectionId });
    connection.socket?.send(tooManyRequestsFrame(connectionId, event.requestContext.requestId));
    return;
  }
  // Not awaited: API Gateway may run a socket's invocations concurrently, so do we.
  ctx.work.track(
    '$default',
    ctx.jitterMs > 0 ? jittered(ctx, connection, event) : onMessage(ctx, connection, event),
  );
}

/** Starts the invocation 0 to jitterMs late, as Lambda's scheduling may. */
async function jittered(ctx: GatewayContext, connection: Connection, event: MessageEvent) {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * ctx.jitterMs));
  await onMessage(ctx, connection, event);
}

async function onMessage(
  ctx: GatewayContext,
  connection: Connection,
  event: MessageEvent,
): Promise<void> {
  try {
    await ctx.handlers.message(event);
  } catch (error) {
    // What API Gateway sends when the integration fails; the socket stays open.
    const { connectionId, requestId } = event.requestContext;
    ctx.log.warn('integration failed: internal server error frame sent', { connectionId, error });
    if (connection.state === 'open' && connection.socket)
      connection.socket.send(errorFrame('Internal server error', connectionId, requestId));
  }
}

function onClosed(
  ctx: GatewayContext,
  connection: Connection,
  clientCode: number,
  clientReason: Buffer,
): void {
  closeConnection(ctx, connection);
  // The gateway's own cause when it closed the socket, else what the client said.
  const { code, reason } = connection.closing ?? {
    code: clientCode,
    reason: clientReason.toString(),
  };
  const fields = { connectionId: connection.facts.connectionId, code, reason };
  if (connection.closing && connection.closing !== CLOSE.DELETED)
    ctx.log.info('socket closed by the gateway', fields);
  else ctx.log.debug('socket closed', fields);
  disconnect(ctx, connection, code, reason);
}

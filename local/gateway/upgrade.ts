/**
 * The WebSocket handshake, as API Gateway answers it: only the stage URL `/{stage}` upgrades
 * (the path forms come through the edge first; anything else is 403), a throttled handshake gets
 * 429, and `$connect` runs before the handshake completes: a non-2xx statusCode refuses it with
 * that status, a handler that throws with 500.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { HandlerResult } from '../../lambda/core/handlers.js';
import { MAX_FRAME_BYTES } from '../../lambda/core/limits.js';
import { connectEvent, newAwsId, type ConnectionFacts } from '../events.js';
import { CLOSE } from './close-codes.js';
import { addConnection, closeConnection, disconnect, openConnection } from './connection.js';
import type { Edge, ForwardedUpgrade } from './edge.js';
import { answerUpgrade, json, splitUrl } from './http.js';
import type { GatewayContext } from './state.js';

type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

const isTwoHundred = (status: number) => status >= 200 && status < 300;

/** Node's view of the handshake, checked as ws checks it, before `$connect` runs. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'Invalid HTTP method';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  const key = req.headers['sec-websocket-key'];
  if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'Missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Missing or invalid Sec-WebSocket-Version';
  return undefined;
}

/** API Gateway's own refusal of a handshake: JSON, with its error type. */
function refuse(socket: Duplex, status: number, errorType: string, message: string): void {
  answerUpgrade(
    socket,
    status,
    { 'Content-Type': 'application/json', 'x-amzn-ErrorType': errorType },
    json({ message }),
  );
}

/** What `$connect` learns of the socket, as API Gateway fills it in. */
function connectionFacts(ctx: GatewayContext, req: IncomingMessage): ConnectionFacts {
  const address = req.socket.address() as AddressInfo;
  const host = req.headers.host ?? `localhost:${address.port}`;
  return {
    connectionId: newAwsId(),
    connectedAt: Date.now(),
    stage: ctx.stage,
    apiId: ctx.apiId,
    domainName: host.replace(/:\d+$/, ''),
    sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
    ...(req.headers['user-agent'] === undefined ? {} : { userAgent: req.headers['user-agent'] }),
  };
}

/**
 * The query and headers of a handshake API Gateway would take to `$connect`, or undefined once it
 * has been refused: through the edge when off the stage URL, then the checks API Gateway makes
 * first.
 */
function admit(
  ctx: GatewayContext,
  edge: Edge,
  req: IncomingMessage,
  socket: Duplex,
): Omit<ForwardedUpgrade, 'path'> | undefined {
  let target: ForwardedUpgrade = { ...splitUrl(req.url ?? '/'), rawHeaders: req.rawHeaders };
  if (target.path !== ctx.stagePath) {
    // Not API Gateway's own URL: through the edge front door, as behind CloudFront.
    const forwarded = edge.forwardUpgrade(req, socket);
    if (!forwarded) return undefined;
    target = forwarded;
  }
  if (target.path !== ctx.stagePath) {
    ctx.log.info('handshake refused: not the stage URL', { status: 403 });
    return void refuse(socket, 403, 'ForbiddenException', 'Forbidden');
  }
  const problem = handshakeProblem(req);
  if (problem) return void answerUpgrade(socket, 400, { 'Content-Type': 'text/plain' }, problem);
  if (ctx.bucket && !ctx.bucket.take()) {
    ctx.log.info('handshake throttled', { status: 429 });
    return void refuse(socket, 429, 'TooManyRequestsException', 'Too Many Requests');
  }
  return { query: target.query, rawHeaders: target.rawHeaders };
}

export function createUpgrade(ctx: GatewayContext, edge: Edge): UpgradeHandler {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    // API Gateway answers a subprotocol only when $connect returns one; these handlers never do.
    handleProtocols: () => false,
  });

  return async (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (ctx.stopping) return answerUpgrade(socket, 503, {}, '');
    const admitted = admit(ctx, edge, req, socket);
    if (admitted === undefined) return;

    const facts = connectionFacts(ctx, req);
    const connection = addConnection(ctx, facts);
    let clientLeft = false;
    socket.once('close', () => (clientLeft = true));

    let result: HandlerResult;
    try {
      const port = (req.socket.address() as AddressInfo).port;
      result = await ctx.handlers.connect(
        connectEvent(facts, admitted.rawHeaders, admitted.query, { port, proto: 'http' }),
      );
    } catch (error) {
      closeConnection(ctx, connection);
      ctx.log.warn('$connect failed: handshake refused with 500', {
        connectionId: facts.connectionId,
        error,
      });
      return answerUpgrade(
        socket,
        500,
        { 'Content-Type': 'application/json' },
        json({ message: 'Internal server error' }),
      );
    }
    if (!isTwoHundred(result.statusCode)) {
      closeConnection(ctx, connection);
      return answerUpgrade(
        socket,
        result.statusCode,
        { 'Content-Type': 'text/plain; charset=utf-8' },
        result.body ?? '',
      );
    }
    if (clientLeft || ctx.stopping || !socket.readable || !socket.writable) {
      // Accepted by $connect but gone (or shutting down) before the handshake completed.
      if (!clientLeft) answerUpgrade(socket, 503, {}, '');
      closeConnection(ctx, connection);
      disconnect(ctx, connection, clientLeft ? 1006 : CLOSE.SHUTDOWN.code, '');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => openConnection(ctx, connection, ws));
  };
}

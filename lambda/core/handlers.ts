/**
 * The four Lambda handlers as functions of their services. lambda/*.ts build the services from
 * the environment once per cold start; the local gateway and the tests build them directly.
 */
import { checkAccess } from './access.js';
import { PAIRING_GRACE_MS, ROUTE_WAIT_MS, type Context, type Services } from './context.js';
import { isDeliveryJob } from './delivery-invoker.js';
import { closeIntroduction, onIntroductionMessage } from './introduction.js';
import type { Logger } from './log.js';
import { MetricCounter } from './metrics.js';
import { openIntroduction } from './peer-sockets.js';
import { KEEP_ALIVE_FRAME, parseConnectRequest } from './protocol.js';
import { isPlatformCut, reintroduceAfterCut } from './reintroduction.js';
import { deliverHeld } from './delivery.js';
import { PairCache } from './pair-cache.js';
import { onPairedFrame, onRelayFrame, openRelay } from './relay.js';
import { releaseRelay } from './relay-release.js';
import { closeBestEffort, retryUntil } from './retry.js';

/** The part of API Gateway's WebSocket event the handlers read. */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string;
    connectionId: string;
    requestId?: string;
    connectedAt?: number;
    requestTimeEpoch?: number;
    disconnectStatusCode?: number;
    disconnectReason?: string;
  };
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

export interface HandlerResult {
  statusCode: number;
  body?: string;
}

export interface Handlers {
  connect(event: WebSocketEvent): Promise<HandlerResult>;
  message(event: WebSocketEvent): Promise<HandlerResult>;
  disconnect(event: WebSocketEvent): Promise<HandlerResult>;
  deliver(job: unknown): Promise<void>;
}

export interface HandlerOptions {
  /** The base logger: each invocation adds its connection id, route and request id. */
  log: Logger;
  /** Where each invocation's counters go (EMF on Lambda). */
  emitMetrics?: (emf: Record<string, unknown>) => void;
  /** The metrics dimension: the stage name. */
  stage?: string;
}

const OK: HandlerResult = { statusCode: 200 };

/** An introduction socket's keep-alive: no reply, no write. */
function keptAlive(ctx: Context): HandlerResult {
  ctx.log.debug('keep-alive');
  return OK;
}

export function createHandlers(services: Services, options: HandlerOptions): Handlers {
  const cache = new PairCache();

  /** Runs one invocation with its own logger and counters; errors are logged and rethrown. */
  async function invoke<T>(
    route: string,
    fields: Record<string, unknown>,
    work: (ctx: Context) => Promise<T>,
  ): Promise<T> {
    const metrics = new MetricCounter();
    const log = options.log.with({ route, ...fields });
    // Route functions may wait ROUTE_WAIT_MS for a socket still connecting; deliver, the grace.
    const wait = route === 'deliver' ? PAIRING_GRACE_MS : ROUTE_WAIT_MS;
    const ctx: Context = { ...services, log, metrics, waitUntil: services.now() + wait };
    try {
      return await work(ctx);
    } catch (error) {
      metrics.count('Errors');
      log.error('handler failed', { error });
      throw error;
    } finally {
      const emf = metrics.emf({ stage: options.stage ?? 'local' }, services.now());
      if (emf && options.emitMetrics) options.emitMetrics(emf);
    }
  }

  return {
    connect: (event) =>
      invoke('$connect', { ...eventFields(event), ...viewerAddress(event) }, (ctx) =>
        onConnect(ctx, event),
      ),

    message: (event) =>
      invoke('$default', eventFields(event), (ctx) => onMessage(ctx, cache, event)),

    disconnect: (event) =>
      invoke(
        '$disconnect',
        {
          ...eventFields(event),
          disconnectStatusCode: event.requestContext.disconnectStatusCode,
        },
        (ctx) => onDisconnect(ctx, cache, event),
      ),

    deliver: (job) =>
      invoke('deliver', isDeliveryJob(job) ? { connectionId: job.from } : {}, async (ctx) => {
        if (!isDeliveryJob(job)) {
          ctx.log.error('deliver invoked without a delivery job');
          return;
        }
        await deliverHeld(ctx, job);
      }),
  };
}

const eventFields = (event: WebSocketEvent) => ({
  connectionId: event.requestContext.connectionId,
  requestId: event.requestContext.requestId,
});

// Behind CloudFront the stage's sourceIp is CloudFront's; the edge forwards the viewer's ip:port.
const viewerAddress = (event: WebSocketEvent) => {
  const found = Object.entries(event.headers ?? {}).find(
    ([name]) => name.toLowerCase() === 'cloudfront-viewer-address',
  );
  return found?.[1] === undefined ? {} : { viewerAddress: found[1] };
};

/** $connect: refuse a bad handshake, or open an introduction or relay socket. */
async function onConnect(ctx: Context, event: WebSocketEvent): Promise<HandlerResult> {
  const { connectionId, connectedAt } = event.requestContext;
  const refusal = checkAccess(ctx.access, event.headers, event.queryStringParameters);
  if (refusal) {
    ctx.log.info('handshake refused', { reason: refusal.reason });
    return { statusCode: refusal.statusCode, body: refusal.reason };
  }
  const request = parseConnectRequest(event.queryStringParameters, ctx.limits);
  if (!request.ok) {
    ctx.log.info('handshake refused', { reason: request.error });
    return { statusCode: 400, body: request.error };
  }
  const at = connectedAt ?? ctx.now();
  ctx.metrics.count('Connections');
  if (request.value.type === 'introduction') {
    const refusal = await openIntroduction(ctx, connectionId, request.value.localId, at);
    return refusal ? { statusCode: refusal.statusCode, body: refusal.reason } : OK;
  }
  const conflict = await openRelay(ctx, connectionId, request.value, at);
  if (conflict) return { statusCode: 409, body: conflict };
  return OK;
}

/** $default: a relay frame, an introduction message, or an introduction socket's keep-alive. */
async function onMessage(
  ctx: Context,
  cache: PairCache,
  event: WebSocketEvent,
): Promise<HandlerResult> {
  const { connectionId, requestTimeEpoch } = event.requestContext;
  const body = event.body ?? '';
  const receivedAt = requestTimeEpoch ?? ctx.now();
  const pairing = cache.get(connectionId);
  if (pairing) {
    await onPairedFrame(ctx, cache, connectionId, pairing, body);
    return OK;
  }
  const keepAlive = body === KEEP_ALIVE_FRAME;
  // Only the record tells a keep-alive from a relay frame, and its kind never changes: an
  // eventually consistent read (half the cost) does; missing there, the read below decides.
  if (keepAlive) {
    const known = await ctx.store.connections
      .getConnection(connectionId, false)
      .catch(() => undefined);
    if (known?.kind === 'introduction') return keptAlive(ctx);
  }
  let socket;
  try {
    socket = await retryUntil(ctx, ctx.waitUntil, 'reading a socket', () =>
      ctx.store.connections.getConnection(connectionId),
    );
  } catch (error) {
    // Its kind is unknown: an Error frame could land in a relay stream. Closing is clear.
    ctx.metrics.count('Errors');
    ctx.log.error('could not read the socket: closing it', { error });
    await closeBestEffort(ctx, [connectionId]);
    return OK;
  }
  if (socket?.kind === 'introduction') {
    if (keepAlive) return keptAlive(ctx);
    await onIntroductionMessage(ctx, socket, body);
  } else await onRelayFrame(ctx, cache, connectionId, socket, body, receivedAt);
  return OK;
}

/** $disconnect: the socket's records go, its peer is closed or told. */
async function onDisconnect(
  ctx: Context,
  cache: PairCache,
  event: WebSocketEvent,
): Promise<HandlerResult> {
  const { connectionId } = event.requestContext;
  // Removing the record first makes a late or duplicate $disconnect a no-op.
  const socket = await ctx.store.connections.removeConnection(connectionId);
  if (socket?.kind === 'introduction') await closeIntroduction(ctx, socket);
  else if (socket) {
    await releaseRelay(ctx, socket, cache);
    ctx.log.info('relay socket closed', { paired: Boolean(socket.peer) });
    const { disconnectStatusCode, disconnectReason } = event.requestContext;
    if (isPlatformCut(disconnectStatusCode, disconnectReason))
      await reintroduceAfterCut(ctx, socket);
  }
  return OK;
}

/** The HTTP server's life: what each request path goes to, listening, and shutting down. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLOSE } from './close-codes.js';
import { closeWith } from './connection.js';
import type { Edge } from './edge.js';
import { answer, json, splitUrl } from './http.js';
import { onInvoke } from './invoke.js';
import { onManagement } from './management.js';
import type { GatewayContext } from './state.js';

/** The address other parts of this process use to reach a server listening on `address`. */
function loopback(address: AddressInfo): string {
  if (address.address === '0.0.0.0' || address.address === '::') return '127.0.0.1';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

/**
 * Where the server is reached: `internal` by the handlers' own clients in this process, `url`
 * as shown to people (`localhost` when it listens on every address).
 */
export function addressesOf(address: AddressInfo): { internal: string; url: string } {
  const wildcard = address.address === '0.0.0.0' || address.address === '::';
  return {
    internal: `http://${loopback(address)}:${address.port}`,
    url: `http://${wildcard ? 'localhost' : loopback(address)}:${address.port}`,
  };
}

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Plain HTTP: Lambda's Invoke, the management API, and the edge for everything else. */
export function routeRequests(ctx: GatewayContext, edge: Edge): RequestListener {
  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path } = splitUrl(req.url ?? '/');
    const segments = path.split('/');
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (invoke) return onInvoke(ctx, req, res, decodeURIComponent(invoke[1]!));
    let second = '';
    try {
      second = decodeURIComponent(segments[2] ?? '');
    } catch {
      // not the management API
    }
    if (second === '@connections') return onManagement(ctx, req, res, segments);
    edge.serve(req, res);
  }

  return (req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      ctx.log.error('request failed', { error });
      if (!res.headersSent) answer(res, 500, json({ message: 'Internal server error' }));
      else res.destroy();
    });
  };
}

/**
 * Closes every socket (1001) and waits for them and for every handler still running, at most
 * `timeoutMs` (then it terminates the sockets), and stops listening.
 */
export async function shutdown(
  ctx: GatewayContext,
  server: Server,
  timeoutMs: number,
): Promise<void> {
  ctx.stopping = true;
  for (const connection of ctx.connections.values()) closeWith(connection, CLOSE.SHUTDOWN);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const done = async () => {
    // Sockets first (their $disconnect is work too), then every handler still running.
    while (ctx.connections.size > 0)
      await Promise.all([...ctx.connections.values()].map((connection) => connection.closed));
    await ctx.work.settled();
  };
  if ((await Promise.race([done(), timeout])) === 'timeout') {
    ctx.log.warn('closing with handlers still running', { running: ctx.work.size });
    for (const connection of ctx.connections.values()) connection.socket?.terminate();
  }
  clearTimeout(timer);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

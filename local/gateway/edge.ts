/**
 * The edge front door: edge/rewrite.js, the CloudFront Function deployed in front of API Gateway,
 * run in local/edge-runtime.ts on every request that is not for API Gateway itself: the path
 * forms (`/introduction/:id`, `/connection/:a/:b/:key`) and the fish page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { EDGE_SECRET_HEADER } from '../../lambda/core/access.js';
import type { Logger } from '../../lambda/core/log.js';
import {
  isResponse,
  serializeQuerystring,
  viewerRequestEvent,
  type CloudFrontResponse,
  type CloudFrontViewerRequestResult,
} from '../edge-event.js';
import { loadRewrite } from '../edge-runtime.js';
import { answerUpgrade, type Headers } from './http.js';

/** A handshake as the edge forwards it to the stage. */
export interface ForwardedUpgrade {
  readonly path: string;
  readonly query: string;
  /** The request's headers as Node's `rawHeaders` (name, value, ...), with the edge's own. */
  readonly rawHeaders: readonly string[];
}

export interface Edge {
  /**
   * A handshake off the stage URL: the stage path, query and headers the edge forwards it with,
   * or undefined once the edge (or its failure, 503) has answered it.
   */
  forwardUpgrade(req: IncomingMessage, socket: Duplex): ForwardedUpgrade | undefined;
  /** A plain HTTP request (not an API's): the fish page, a refusal, or 426 when forwarded. */
  serve(req: IncomingMessage, res: ServerResponse): void;
}

function edgeHeaders(response: CloudFrontResponse): Headers {
  return Object.fromEntries(
    Object.entries(response.headers).map(([name, { value }]) => [name, value]),
  );
}

function edgeBody(response: CloudFrontResponse): string | Buffer {
  if (!response.body) return '';
  return response.body.encoding === 'base64'
    ? Buffer.from(response.body.data, 'base64')
    : response.body.data;
}

const SECRET_HEADER = EDGE_SECRET_HEADER.toLowerCase();

/**
 * The headers CloudFront sends the stage: a viewer's own secret header never passes (CloudFront
 * overwrites it, or drops it as outside the origin request policy), and the edge's secret is
 * added when the distribution has one.
 */
function originHeaders(rawHeaders: readonly string[], edgeSecret: string | undefined): string[] {
  const headers: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== SECRET_HEADER)
      headers.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  if (edgeSecret !== undefined) headers.push(EDGE_SECRET_HEADER, edgeSecret);
  return headers;
}

/**
 * Loads the stage's rewrite; its `console.log` lines go to the gateway's debug log. With
 * `edgeSecret`, forwarded handshakes carry it as CloudFront's custom origin header does.
 */
export function createEdge(stage: string, log: Logger, edgeSecret?: string): Edge {
  const rewrite = loadRewrite(stage, { log: (line) => log.debug('edge', { line }) });

  function run(req: IncomingMessage): CloudFrontViewerRequestResult | undefined {
    try {
      return rewrite(
        viewerRequestEvent({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          ip: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
        }),
      );
    } catch (error) {
      // CloudFront answers 503 when its function fails.
      log.error('edge rewrite failed', { error });
      return undefined;
    }
  }

  function forwardUpgrade(req: IncomingMessage, socket: Duplex) {
    const result = run(req);
    if (!result) return void answerUpgrade(socket, 503, {}, '');
    if (isResponse(result)) {
      log.info('handshake refused by the edge rewrite', {
        status: result.statusCode,
        reason: result.body?.data.trim(),
      });
      const body = edgeBody(result);
      return void answerUpgrade(socket, result.statusCode, edgeHeaders(result), body.toString());
    }
    return {
      path: result.uri,
      query: serializeQuerystring(result.querystring),
      rawHeaders: originHeaders(req.rawHeaders, edgeSecret),
    };
  }

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const result = run(req);
    if (!result) return void res.writeHead(503).end();
    if (isResponse(result)) {
      const body = edgeBody(result);
      res.writeHead(result.statusCode, {
        ...edgeHeaders(result),
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // Forwarded to the stage without an upgrade: API Gateway wants a WebSocket there.
    res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' });
    res.end('Upgrade Required\n');
  }

  return { forwardUpgrade, serve };
}

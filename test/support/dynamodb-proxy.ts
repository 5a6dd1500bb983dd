/**
 * A fault-injecting HTTP proxy in front of a DynamoDB API (dynalite or DynamoDB Local), for tests
 * that need DynamoDB to be slow or to throttle, as it is under load on AWS. The real SDK clients
 * and the real table sit on either side: only the chosen requests are delayed, throttled or left
 * unanswered.
 *
 *   const proxy = await startDynamoProxy(backendEndpoint);
 *   proxy.setRule((call) => (call.operation === 'PutItem' ? { throttle: true } : undefined));
 *   // point the store (or `npm start` through AWS_ENDPOINT_URL_DYNAMODB) at proxy.endpoint
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from '../../local/listen.js';

/** One DynamoDB request as the proxy sees it: the operation and its JSON body. */
export interface ProxiedCall {
  /** The operation from the X-Amz-Target header, e.g. 'PutItem', 'TransactWriteItems'. */
  readonly operation: string;
  readonly body: Record<string, unknown>;
}

/**
 * What to do with one request: answer it with DynamoDB's throttling error (the SDK retries that
 * with its throttling backoff), forward it after a delay, or never answer (`hang`).
 */
export interface Fault {
  throttle?: boolean;
  delayMs?: number;
  hang?: boolean;
}

export type FaultRule = (call: ProxiedCall) => Fault | undefined;

export interface DynamoProxy {
  /** The proxy's URL: give it to the SDK client in place of the backend's. */
  readonly endpoint: string;
  /** Every request seen, in arrival order, faulted or not. */
  readonly calls: readonly ProxiedCall[];
  /** Replaces the rule; `undefined` forwards everything untouched. */
  setRule(rule: FaultRule | undefined): void;
  /** How many requests of an operation were answered with a throttling error. */
  throttled(operation: string): number;
  close(): Promise<void>;
}

/** DynamoDB's answer when a partition is over its throughput; the SDK retries it as throttling. */
const THROTTLED_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message: 'The level of configured provisioned throughput for the table was exceeded.',
});

async function readBody(message: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of message) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseCall(headers: IncomingMessage['headers'], body: Buffer): ProxiedCall {
  const target = String(headers['x-amz-target'] ?? '');
  const operation = target.slice(target.lastIndexOf('.') + 1);
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    // Not JSON: forwarded as it is; rules see an empty body.
  }
  return { operation, body: parsed };
}

function forward(target: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const upstream = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  upstream.end(body);
}

/** Starts the proxy on a free loopback port, forwarding to `backend` (an http:// endpoint). */
export async function startDynamoProxy(backend: string): Promise<DynamoProxy> {
  const target = new URL(backend);
  const calls: ProxiedCall[] = [];
  const throttledCounts = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let rule: FaultRule | undefined;

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const call = parseCall(req.headers, body);
      calls.push(call);
      const fault = rule?.(call);
      if (fault?.hang) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      if (fault?.throttle) {
        throttledCounts.set(call.operation, (throttledCounts.get(call.operation) ?? 0) + 1);
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(THROTTLED_BODY);
        return;
      }
      forward(target, req, body, res);
    })();
  });
  const { port } = await listen(server, 0, '127.0.0.1');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    setRule: (next) => {
      rule = next;
    },
    throttled: (operation) => throttledCounts.get(operation) ?? 0,
    close: () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

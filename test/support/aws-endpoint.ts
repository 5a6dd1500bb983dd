/**
 * A stand-in for an AWS endpoint (DynamoDB, `@connections`, Lambda) that answers every request
 * the same way, for the real SDK clients to talk to: `ok` (200 `{}`), `throttle` (429, as a
 * throttled service answers), `silent` (takes the request and never answers) or `hold` (keeps
 * requests open until `holdUntil` are open at once, or `holdMs` passed, then answers 200).
 * It counts the requests it saw, the most that were open at once, and the TCP connections they
 * came on. Listens on port 0.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Answer = 'ok' | 'throttle' | 'silent' | 'hold';

export interface AwsEndpointOptions {
  /** For `hold`: answer once this many requests are open at once. @default 64 */
  holdUntil?: number;
  /** For `hold`: answer the requests held this long anyway (ms). @default 2000 */
  holdMs?: number;
}

export interface AwsEndpoint {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** The most requests open at once so far. */
  readonly mostInFlight: number;
  /** TCP connections opened so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startAwsEndpoint(
  answer: Answer,
  { holdUntil = 64, holdMs = 2_000 }: AwsEndpointOptions = {},
): Promise<AwsEndpoint> {
  let requests = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  let connections = 0;
  let held: ServerResponse[] = [];
  let holdTimer: NodeJS.Timeout | undefined;
  const sockets = new Set<Socket>();

  const ok = (res: ServerResponse) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  const releaseHeld = () => {
    clearTimeout(holdTimer);
    holdTimer = undefined;
    const answering = held;
    held = [];
    answering.forEach(ok);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    mostInFlight = Math.max(mostInFlight, ++inFlight);
    res.on('close', () => inFlight--);
    req.resume();
    req.on('end', () => {
      if (answer === 'ok') return ok(res);
      if (answer === 'throttle')
        return res
          .writeHead(429, {
            'content-type': 'application/json',
            'x-amzn-errortype': 'ThrottlingException',
          })
          .end('{"__type":"ThrottlingException","message":"Rate exceeded"}');
      if (answer === 'hold') {
        held.push(res);
        if (held.length >= holdUntil) releaseHeld();
        else holdTimer ??= setTimeout(releaseHeld, holdMs);
      }
      // silent: the request stays open until the client gives up or the endpoint closes.
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get mostInFlight() {
      return mostInFlight;
    },
    get connections() {
      return connections;
    },
    close: () => {
      clearTimeout(holdTimer);
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

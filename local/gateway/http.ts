/** HTTP answers as AWS's APIs give them, on a plain response or on a socket that asked to upgrade. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { newAwsId } from '../events.js';

export type Headers = Record<string, string>;

export const json = (value: unknown) => JSON.stringify(value);

/** A request target split at its `?`: the path, and the raw query without the mark. */
export function splitUrl(url: string): { path: string; query: string } {
  const mark = url.indexOf('?');
  return mark < 0
    ? { path: url, query: '' }
    : { path: url.slice(0, mark), query: url.slice(mark + 1) };
}

/** Writes a complete HTTP response on a socket that asked for an upgrade, then closes it. */
export function answerUpgrade(
  socket: Duplex,
  status: number,
  headers: Headers,
  body: string,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const payload = Buffer.from(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    `Content-Length: ${payload.length}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), payload]), () =>
    socket.destroy(),
  );
}

/** Reads a request body, remembering whether it went past `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { body: Buffer.concat(chunks), tooLarge: size > limit };
}

/** Answers as an AWS API does: status, `x-amzn-ErrorType` for errors, JSON or empty body. */
export function answer(
  res: ServerResponse,
  status: number,
  body: string | Buffer = '',
  headers: Headers = {},
): void {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'x-amzn-RequestId': newAwsId(),
    ...(payload.length ? { 'Content-Type': 'application/json' } : {}),
    'Content-Length': String(payload.length),
    ...headers,
  });
  res.end(payload);
}

export const awsError = (res: ServerResponse, status: number, type: string, message?: string) =>
  answer(res, status, message === undefined ? '' : json({ message }), {
    'x-amzn-ErrorType': type,
  });

/**
 * Lambda's Invoke API for the deliver function, as the handlers' own Lambda client calls it:
 * `Event` answers 202 and runs it in the background, `RequestResponse` runs it and answers 200
 * (with `X-Amz-Function-Error` when it threw), `DryRun` answers 204.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer, json, readBody } from './http.js';
import type { GatewayContext } from './state.js';

/** Lambda's limit for an asynchronous invocation's payload. */
const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;
/** Lambda's limit for a synchronous invocation's payload. */
const MAX_REQUEST_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** Answers `POST /2015-03-31/functions/{name}/invocations`. */
export async function onInvoke(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
): Promise<void> {
  const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
  const limit = type === 'Event' ? MAX_EVENT_PAYLOAD_BYTES : MAX_REQUEST_PAYLOAD_BYTES;
  const { body, tooLarge } = await readBody(req, limit);
  const lambdaError = (status: number, errorType: string, message: string) =>
    answer(res, status, json({ Type: 'User', message }), { 'x-amzn-ErrorType': errorType });
  if (req.method !== 'POST')
    return lambdaError(405, 'UnsupportedMediaTypeException', 'Invoke is a POST');
  const { deliverFunctionName } = ctx;
  const known = name === deliverFunctionName || name.endsWith(`:function:${deliverFunctionName}`);
  if (!known) return lambdaError(404, 'ResourceNotFoundException', `Function not found: ${name}`);
  if (tooLarge)
    return lambdaError(413, 'RequestTooLargeException', 'Request must be smaller than the limit');
  let payload: unknown;
  try {
    payload = body.length === 0 ? {} : (JSON.parse(body.toString()) as unknown);
  } catch {
    return lambdaError(400, 'InvalidRequestContentException', 'Could not parse request body');
  }
  if (type === 'DryRun') return answer(res, 204);
  if (type === 'Event') {
    // Accepted now, run later: close() and settled() wait for it; its errors are logged.
    ctx.work.track('deliver', ctx.handlers.deliver(payload));
    return answer(res, 202);
  }
  if (type !== 'RequestResponse')
    return lambdaError(400, 'InvalidParameterValueException', `Bad invocation type ${type}`);
  try {
    await ctx.handlers.deliver(payload);
    return answer(res, 200, 'null', { 'X-Amz-Executed-Version': '$LATEST' });
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    return answer(res, 200, json({ errorType: err.name, errorMessage: err.message }), {
      'X-Amz-Executed-Version': '$LATEST',
      'X-Amz-Function-Error': 'Unhandled',
    });
  }
}

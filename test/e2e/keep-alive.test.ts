/**
 * The introduction keep-alive `{"type":"KeepAlive"}`: on an introduction socket it is answered
 * with nothing and changes nothing, at the cost of one eventually consistent read; on a relay
 * socket the same text is the app's and is relayed.
 */
import { describe, expect, it } from 'vitest';
import { KEEP_ALIVE_FRAME } from '../../lambda/core/protocol.js';
import type { ClientOverrides } from '../../lambda/runtime.js';
import { backends } from '../support/gateway.js';
import { gatewaySuite } from '../support/suite.js';

/** The part of an SDK client's middleware stack used here (the clients' own types differ). */
interface Stack {
  add(
    middleware: (
      next: (args: unknown) => Promise<unknown>,
      context: { commandName?: string },
    ) => (args: { input?: { ConsistentRead?: boolean } }) => Promise<unknown>,
    options: { step: 'initialize'; name: string },
  ): void;
}

interface Call {
  command: string;
  consistent?: boolean;
}

describe.each(backends())('introduction keep-alive on $name', (backend) => {
  /** Every AWS SDK call the handlers make (DynamoDB and @connections), in order. */
  const calls: Call[] = [];
  const instrument: NonNullable<ClientOverrides['instrument']> = (client) => {
    (client.middlewareStack as unknown as Stack).add(
      (next, context) => (args) => {
        const input = args.input;
        calls.push({
          command: context.commandName ?? 'unknown',
          ...(input?.ConsistentRead === undefined ? {} : { consistent: input.ConsistentRead }),
        });
        return next(args);
      },
      { step: 'initialize', name: 'recordCalls' },
    );
  };

  const suite = gatewaySuite(backend, { instrumentClient: instrument });
  const { name, open, quiet } = suite;

  it('answers a keep-alive on an introduction socket with nothing, writing nothing', async () => {
    const [A, B, key] = [name('A'), name('B'), name('doc')];
    const a = await open(`/introduction/${A}`);
    const b = await open(`/introduction/${B}`);
    a.send({ type: 'Join', join: [key] });
    await quiet(a);
    b.send({ type: 'Join', join: [key] });
    expect(await a.nextJson()).toEqual({ type: 'Introduction', id: B, keys: [key] });
    expect(await b.nextJson()).toEqual({ type: 'Introduction', id: A, keys: [key] });
    await quiet(a, b);

    const from = calls.length;
    a.send(KEEP_ALIVE_FRAME);
    await suite.gateway.event(
      'message',
      (event) =>
        event.body === KEEP_ALIVE_FRAME &&
        event.requestContext.connectionId === suite.gateway.connectionId(a),
    );
    await quiet(a, b);
    expect(calls.slice(from)).toEqual([{ command: 'GetItemCommand', consistent: false }]);
    expect(a.unread()).toEqual([]);
    expect(b.unread()).toEqual([]);

    // Nothing changed: the key set is as it was, and a later Join works as ever.
    b.send({ type: 'Join', join: [name('other')] });
    a.send({ type: 'Join', join: [key, name('other')] });
    expect(await a.nextJson()).toEqual({ type: 'Introduction', id: B, keys: [key, name('other')] });
  });

  it('relays the same text on a relay socket, as the app’s own frame', async () => {
    const [A, B, key] = [name('A'), name('B'), name('doc')];
    const a = await open(`/connection/${A}/${B}/${key}`);
    const b = await open(`/connection/${B}/${A}/${key}`);
    a.send(KEEP_ALIVE_FRAME);
    expect(await b.next()).toBe(KEEP_ALIVE_FRAME);
    b.send(KEEP_ALIVE_FRAME);
    expect(await a.next()).toBe(KEEP_ALIVE_FRAME);
  });
});

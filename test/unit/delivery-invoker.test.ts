import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { isDeliveryJob, LambdaDeliveryInvoker } from '../../lambda/core/delivery-invoker.js';

describe('isDeliveryJob', () => {
  it('accepts { from, to, pairedAt } and nothing else', () => {
    expect(isDeliveryJob({ from: 'a', to: 'b', pairedAt: 1 })).toBe(true);
    expect(isDeliveryJob({ from: 'a', to: 'b', pairedAt: 1, extra: true })).toBe(true);
    for (const value of [
      null,
      undefined,
      'job',
      {},
      { from: 'a', to: 'b' },
      { from: 'a', to: 2, pairedAt: 1 },
      { from: 'a', to: 'b', pairedAt: '1' },
    ])
      expect(isDeliveryJob(value)).toBe(false);
  });
});

describe('LambdaDeliveryInvoker', () => {
  it('creates its Lambda client once, on first use, and invokes asynchronously', async () => {
    const client = new LambdaClient({ region: 'eu-west-1' });
    const lambda = mockClient(client);
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const makeClient = vi.fn(() => client);
    const invoker = new LambdaDeliveryInvoker('deliver-fn', makeClient);
    expect(makeClient).not.toHaveBeenCalled();

    await Promise.all([
      invoker.deliverLater({ from: 'a', to: 'b', pairedAt: 1 }),
      invoker.deliverLater({ from: 'c', to: 'd', pairedAt: 2 }),
    ]);

    expect(makeClient).toHaveBeenCalledTimes(1);
    const calls = lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.InvocationType)).toEqual(['Event', 'Event']);
    expect(
      calls.map(
        (input) => JSON.parse(Buffer.from(input.Payload as Uint8Array).toString()) as unknown,
      ),
    ).toEqual([
      { from: 'a', to: 'b', pairedAt: 1 },
      { from: 'c', to: 'd', pairedAt: 2 },
    ]);
  });

  it('propagates a failed invoke (e.g. throttling) to the caller', async () => {
    const client = new LambdaClient({ region: 'eu-west-1' });
    mockClient(client)
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    const invoker = new LambdaDeliveryInvoker('deliver-fn', () => client);
    await expect(invoker.deliverLater({ from: 'a', to: 'b', pairedAt: 1 })).rejects.toThrow(
      'Rate exceeded',
    );
  });
});

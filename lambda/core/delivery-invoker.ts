/**
 * Hands held frames to the deliver function, invoked asynchronously: a pairing $connect cannot
 * post to its peer until that peer's own $connect has returned (relay.ts, deliverHeld).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';

export interface DeliveryJob {
  /** The socket whose held frames are delivered. */
  from: string;
  /** Its peer, paired at `pairedAt` (ms), possibly still inside its $connect. */
  to: string;
  pairedAt: number;
}

export interface DeliveryInvoker {
  deliverLater(job: DeliveryJob): Promise<void>;
}

export const isDeliveryJob = (value: unknown): value is DeliveryJob => {
  const job = value as Partial<DeliveryJob> | null;
  return (
    typeof job?.from === 'string' && typeof job.to === 'string' && typeof job.pairedAt === 'number'
  );
};

/**
 * Invokes the deliver function asynchronously (InvocationType Event). The Lambda client is
 * loaded on first use: only a pairing $connect needs it, so other cold starts skip it.
 */
export class LambdaDeliveryInvoker implements DeliveryInvoker {
  private client?: Promise<{
    client: LambdaClient;
    lambda: typeof import('@aws-sdk/client-lambda');
  }>;

  constructor(
    private readonly functionName: string,
    private readonly makeClient: (lambda: typeof import('@aws-sdk/client-lambda')) => LambdaClient,
  ) {}

  async deliverLater(job: DeliveryJob): Promise<void> {
    this.client ??= import('@aws-sdk/client-lambda').then((lambda) => ({
      lambda,
      client: this.makeClient(lambda),
    }));
    const { client, lambda } = await this.client;
    const { InvokeCommand } = lambda;
    await client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(job)),
      }),
    );
  }
}

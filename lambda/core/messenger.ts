/**
 * The management API (`@connections`) as the core sees it: post a frame, close a socket, ask
 * whether a socket is open. A 410 is an answer, not an error: the socket is gone, or its
 * $connect has not returned yet.
 */
import {
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
  type ApiGatewayManagementApiClient,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { sleep } from './util.js';

export type Delivery = 'sent' | 'gone';

export interface Messenger {
  post(connectionId: string, data: string): Promise<Delivery>;
  close(connectionId: string): Promise<Delivery>;
  /** False when API Gateway answers 410: the socket is gone (or still inside its $connect). */
  isAlive(connectionId: string): Promise<boolean>;
}

export const isGone = (error: unknown): boolean => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === 'GoneException' || e?.$metadata?.httpStatusCode === 410;
};

export class ManagementApiMessenger implements Messenger {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, data: string): Promise<Delivery> {
    return this.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }),
    );
  }

  async close(connectionId: string): Promise<Delivery> {
    return this.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
  }

  async isAlive(connectionId: string): Promise<boolean> {
    return (await this.send(new GetConnectionCommand({ ConnectionId: connectionId }))) === 'sent';
  }

  private async send(
    command: PostToConnectionCommand | DeleteConnectionCommand | GetConnectionCommand,
  ): Promise<Delivery> {
    try {
      // The SDK's own retry strategy retries 429 (LimitExceeded) and 5xx; never 410.
      await this.client.send(command as PostToConnectionCommand);
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }
}

/**
 * A socket paired a moment ago may still be inside its own $connect, and API Gateway answers
 * 410 until that returns. Until `readyBy` (ms), a 410 is retried with a growing pause, as long
 * as `mayBeConnecting` says the socket may still be connecting (by default, always).
 */
export async function whenReady(
  attempt: () => Promise<Delivery>,
  readyBy: number,
  now: () => number = Date.now,
  mayBeConnecting: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<Delivery> {
  for (let pause = 10; ; pause = Math.min(pause * 2, 1000)) {
    const result = await attempt();
    if (result === 'sent' || now() + pause > readyBy) return result;
    if (!(await mayBeConnecting())) return result;
    await sleep(pause);
  }
}

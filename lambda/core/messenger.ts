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

export type Delivery = 'sent' | 'gone';

export interface Messenger {
  post(connectionId: string, data: string): Promise<Delivery>;
  close(connectionId: string): Promise<Delivery>;
  /** False when API Gateway answers 410: the socket is gone (or still inside its $connect). */
  isAlive(connectionId: string): Promise<boolean>;
  /** When the socket last carried a frame (ms); 'gone' when API Gateway answers 410. */
  lastActiveAt(connectionId: string): Promise<number | 'gone'>;
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

  async lastActiveAt(connectionId: string): Promise<number | 'gone'> {
    try {
      const { LastActiveAt, ConnectedAt } = await this.client.send(
        new GetConnectionCommand({ ConnectionId: connectionId }),
      );
      // API Gateway always answers both; an answer without them counts as active now.
      return (LastActiveAt ?? ConnectedAt)?.getTime() ?? Date.now();
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
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

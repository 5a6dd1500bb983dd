// The brake's controls on AWS: API Gateway's stage settings, Lambda's reserved concurrency and
// the alarm topic, each behind the BrakeControls interface the brake's logic uses.
import { ApiGatewayV2Client, UpdateStageCommand } from '@aws-sdk/client-apigatewayv2';
import {
  DeleteFunctionConcurrencyCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { BrakeControls, BrakeThrottle } from './brake.js';

/** The SDK clients the brake sends through (injected, so unit tests can mock them). */
export interface BrakeClients {
  readonly apiGateway: ApiGatewayV2Client;
  readonly lambda: LambdaClient;
  readonly sns: SNSClient;
}

/** Clients with the SDK's defaults: the function's region and role. */
export function defaultBrakeClients(): BrakeClients {
  return {
    apiGateway: new ApiGatewayV2Client({}),
    lambda: new LambdaClient({}),
    sns: new SNSClient({}),
  };
}

/** {@link BrakeControls} over one stage of one WebSocket API. */
export class AwsBrakeControls implements BrakeControls {
  constructor(
    private readonly clients: BrakeClients,
    private readonly apiId: string,
    private readonly stageName: string,
  ) {}

  async throttleStage(stageDefault: BrakeThrottle, connect: BrakeThrottle): Promise<void> {
    await this.clients.apiGateway.send(
      new UpdateStageCommand({
        ApiId: this.apiId,
        StageName: this.stageName,
        DefaultRouteSettings: routeSettings(stageDefault),
        // The $connect route's own throttle overrides the default, so it is set too.
        RouteSettings: { $connect: routeSettings(connect) },
      }),
    );
  }

  async reserveConcurrency(functionName: string, count: number | null): Promise<void> {
    if (count === null) {
      await this.clients.lambda.send(
        new DeleteFunctionConcurrencyCommand({ FunctionName: functionName }),
      );
      return;
    }
    await this.clients.lambda.send(
      new PutFunctionConcurrencyCommand({
        FunctionName: functionName,
        ReservedConcurrentExecutions: count,
      }),
    );
  }

  async notify(topicArn: string, subject: string, message: string): Promise<void> {
    // SNS subjects are at most 100 characters.
    await this.clients.sns.send(
      new PublishCommand({ TopicArn: topicArn, Subject: subject.slice(0, 100), Message: message }),
    );
  }
}

function routeSettings(throttle: BrakeThrottle) {
  return { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit };
}

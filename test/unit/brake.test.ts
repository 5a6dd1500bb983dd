import { ApiGatewayV2Client, UpdateStageCommand } from '@aws-sdk/client-apigatewayv2';
import {
  DeleteFunctionConcurrencyCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsBrakeControls } from '../../lambda/core/brake-controls.js';
import {
  parseBrakeConfig,
  parseBrakeRequest,
  runBrake,
  type BrakeConfig,
} from '../../lambda/core/brake.js';

const CONFIG: BrakeConfig = {
  apiId: 'abc123',
  stageName: 'prod',
  stageThrottle: { rateLimit: 1000, burstLimit: 2000 },
  connectThrottle: { rateLimit: 100, burstLimit: 200 },
  brakedThrottle: { rateLimit: 1, burstLimit: 1 },
  functions: [
    { functionName: 'default-fn', reservedConcurrency: 100 },
    { functionName: 'connect-fn', reservedConcurrency: null },
  ],
  topicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms',
};

/** The event CloudWatch sends a Lambda alarm action. */
const alarmEvent = (value: string) => ({
  source: 'aws.cloudwatch',
  alarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:cevitxe-signal-prod-brake',
  alarmData: { alarmName: 'cevitxe-signal-prod-brake', state: { value, reason: 'Threshold' } },
});

const clients = {
  apiGateway: new ApiGatewayV2Client({ region: 'eu-west-1' }),
  lambda: new LambdaClient({ region: 'eu-west-1' }),
  sns: new SNSClient({ region: 'eu-west-1' }),
};
const apiGateway = mockClient(clients.apiGateway);
const lambda = mockClient(clients.lambda);
const sns = mockClient(clients.sns);
const controls = new AwsBrakeControls(clients, CONFIG.apiId, CONFIG.stageName);

beforeEach(() => {
  for (const mock of [apiGateway, lambda, sns]) mock.reset();
  apiGateway.on(UpdateStageCommand).resolves({});
  lambda.on(PutFunctionConcurrencyCommand).resolves({});
  lambda.on(DeleteFunctionConcurrencyCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'm1' });
});

describe('the brake', () => {
  it('throttles every route near zero and stops $default and $connect when the alarm goes off', async () => {
    const outcome = await runBrake(parseBrakeRequest(alarmEvent('ALARM')), CONFIG, controls);

    expect(outcome.action).toBe('applied');
    expect(apiGateway.commandCalls(UpdateStageCommand).map((c) => c.args[0].input)).toEqual([
      {
        ApiId: 'abc123',
        StageName: 'prod',
        DefaultRouteSettings: { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1 },
        RouteSettings: { $connect: { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1 } },
      },
    ]);
    expect(lambda.commandCalls(PutFunctionConcurrencyCommand).map((c) => c.args[0].input)).toEqual([
      { FunctionName: 'default-fn', ReservedConcurrentExecutions: 0 },
      { FunctionName: 'connect-fn', ReservedConcurrentExecutions: 0 },
    ]);
    const [publish] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(publish?.TopicArn).toBe(CONFIG.topicArn);
    expect(publish?.Subject).toBe('cevitxe signal prod: brake applied');
    expect(publish?.Message).toContain('alarm cevitxe-signal-prod-brake');
  });

  it('does nothing when the alarm returns to OK', async () => {
    const outcome = await runBrake(parseBrakeRequest(alarmEvent('OK')), CONFIG, controls);
    expect(outcome.action).toBe('ignored');
    expect(apiGateway.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
    expect(sns.calls()).toHaveLength(0);
  });

  it('restores the deployed throttles and reservations on release, removing a 0 where none was reserved', async () => {
    const outcome = await runBrake(parseBrakeRequest({ action: 'release' }), CONFIG, controls);

    expect(outcome.action).toBe('released');
    expect(apiGateway.commandCalls(UpdateStageCommand)[0]?.args[0].input).toMatchObject({
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      RouteSettings: { $connect: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 } },
    });
    expect(lambda.commandCalls(PutFunctionConcurrencyCommand).map((c) => c.args[0].input)).toEqual([
      { FunctionName: 'default-fn', ReservedConcurrentExecutions: 100 },
    ]);
    expect(
      lambda.commandCalls(DeleteFunctionConcurrencyCommand).map((c) => c.args[0].input),
    ).toEqual([{ FunctionName: 'connect-fn' }]);
    expect(sns.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toBe(
      'cevitxe signal prod: brake released',
    );
  });

  it('still stops the functions when the stage cannot be throttled, then reports the failure', async () => {
    apiGateway.on(UpdateStageCommand).rejects(new Error('TooManyRequestsException'));

    await expect(runBrake({ kind: 'apply' }, CONFIG, controls)).rejects.toThrow(
      'TooManyRequestsException',
    );
    expect(lambda.commandCalls(PutFunctionConcurrencyCommand)).toHaveLength(2);
    const [publish] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(publish?.Subject).toBe('cevitxe signal prod: brake applied (with failures)');
    expect(publish?.Message).toContain('FAILED (TooManyRequestsException)');
  });

  it('only logs when the stage has no alarm topic', async () => {
    await runBrake({ kind: 'apply' }, { ...CONFIG, topicArn: null }, controls);
    expect(sns.calls()).toHaveLength(0);
    expect(lambda.commandCalls(PutFunctionConcurrencyCommand)).toHaveLength(2);
  });
});

describe('the brake requests and configuration', () => {
  it('refuses a payload that is neither an alarm event nor an operator command', () => {
    for (const event of [undefined, {}, { action: 'stop' }, { alarmData: { alarmName: 'x' } }])
      expect(() => parseBrakeRequest(event)).toThrow(/alarm event or \{"action":"apply"\}/);
  });

  it('refuses a configuration without its stage, throttles or functions', () => {
    expect(() => parseBrakeConfig(undefined)).toThrow('BRAKE_CONFIG is not set');
    expect(() => parseBrakeConfig(JSON.stringify({ ...CONFIG, apiId: '' }))).toThrow(/apiId/);
    expect(() =>
      parseBrakeConfig(JSON.stringify({ ...CONFIG, brakedThrottle: { rateLimit: 1 } })),
    ).toThrow(/brakedThrottle/);
    expect(() => parseBrakeConfig(JSON.stringify({ ...CONFIG, functions: [] }))).toThrow(
      /functions/,
    );
    expect(parseBrakeConfig(JSON.stringify(CONFIG))).toEqual(CONFIG);
  });
});

// The brake of each stage (lib/signal-brake.ts): the alarm on the stage's MessageCount, its action,
// the function's configuration, and a role that reaches this stage and these functions only.
// The daily budget beside it (lib/signal-budget.ts) is here too: both bound the bill.
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { signalStackProps, STAGES, stageTags, type StageName } from '../../bin/config.js';
import { BRAKE_CONFIG_VARIABLE, parseBrakeConfig } from '../../lambda/core/brake.js';
import { SignalStack } from '../../lib/signal-stack.js';
import {
  actionsOf,
  appWithoutBundling,
  environmentOf,
  logicalIdOf,
  onlyResource,
  policyStatementsOf,
  resourcesOf,
  stageStack,
} from '../support/stacks.js';

describe.each(Object.keys(STAGES) as StageName[])('the %s stage’s brake', (stage) => {
  const { stack, template } = stageStack(stage);
  const { brake, throttle, caps } = STAGES[stage];
  const { server } = stack;
  const brakeFn = logicalIdOf(stack.brake.function);
  const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find(
    (a) =>
      (a as { Properties: { AlarmName: string } }).Properties.AlarmName ===
      `cevitxe-signal-${stage}-brake`,
  ) as { Properties: Record<string, unknown> };

  it('trips on the stage’s 1-minute MessageCount above the configured multiple of its peak', () => {
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'MessageCount',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: logicalIdOf(server.webSocketApi) } },
        { Name: 'Stage', Value: stage },
      ],
      Statistic: 'Sum',
      Period: 60,
      Threshold: brake.expectedPeakMessagesPerSecond * 60 * brake.multiple,
      EvaluationPeriods: brake.evaluationPeriods,
      DatapointsToAlarm: brake.evaluationPeriods,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ 'Fn::GetAtt': [brakeFn, 'Arn'] }],
    });
    expect(brake.evaluationPeriods).toBeGreaterThanOrEqual(2);
    expect(brake.evaluationPeriods).toBeLessThanOrEqual(3);
    // The alarm may invoke the function, and nothing else may.
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p).includes(brakeFn),
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0]).toMatchObject({
      Properties: {
        Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.brake.alarm), 'Arn'] },
      },
    });
  });

  it('knows the stage, what to restore, what to set and what to stop', () => {
    const variable = environmentOf(stack.brake.function, template)[BRAKE_CONFIG_VARIABLE];
    const json = JSON.stringify(stack.resolve(variable));
    expect(json).toContain(`"stageName\\":\\"${stage}\\"`);
    const resolved = stack.resolve(variable) as { 'Fn::Join': [string, unknown[]] };
    // Replace each reference by its logical id, then read it as the function will.
    const text = resolved['Fn::Join'][1]
      .map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`))
      .join('');
    const config = parseBrakeConfig(text);
    expect(config).toEqual({
      apiId: `<${logicalIdOf(server.webSocketApi)}>`,
      stageName: stage,
      stageThrottle: throttle,
      connectThrottle: caps.connectThrottle,
      brakedThrottle: brake.brakedThrottle,
      functions: [
        {
          functionName: `<${logicalIdOf(server.defaultFunction)}>`,
          reservedConcurrency: (caps.reservedConcurrency as { default?: number }).default ?? null,
        },
        {
          functionName: `<${logicalIdOf(server.connectFunction)}>`,
          reservedConcurrency: (caps.reservedConcurrency as { connect?: number }).connect ?? null,
        },
      ],
      topicArn: null,
    });
    expect(resourcesOf(template)[brakeFn]!.Properties.FunctionName).toBe(
      `cevitxe-signal-${stage}-brake`,
    );
  });

  it('may change this stage and stop these two functions, and nothing else', () => {
    const role = logicalIdOf(stack.brake.function.role!);
    const statements = policyStatementsOf(template)
      .filter(({ roles }) => roles.includes(role))
      .map(({ statement }) => statement);
    const granted = statements.flatMap((s) => actionsOf(s).map((a) => [a, s.Resource] as const));
    const fnArn = (fn: typeof server.connectFunction) => ({
      'Fn::GetAtt': [logicalIdOf(fn), 'Arn'],
    });
    const functions = [fnArn(server.connectFunction), fnArn(server.defaultFunction)];
    expect(
      granted
        .filter(([a]) => !a.startsWith('logs:'))
        .map(([a]) => a)
        .sort(),
    ).toEqual([
      'apigateway:PATCH',
      'lambda:DeleteFunctionConcurrency',
      'lambda:PutFunctionConcurrency',
    ]);
    expect(granted.find(([a]) => a === 'lambda:PutFunctionConcurrency')?.[1]).toEqual(functions);
    expect(granted.find(([a]) => a === 'lambda:DeleteFunctionConcurrency')?.[1]).toEqual(functions);
    // This API's stage, by its id: `arn:…:apigateway:REGION::/apis/API/stages/STAGE`.
    expect(JSON.stringify(granted.find(([a]) => a === 'apigateway:PATCH')?.[1])).toMatch(
      new RegExp(
        `:apigateway:".*::/apis/",\\{"Ref":"${logicalIdOf(server.webSocketApi)}"\\},"/stages/${stage}"`,
      ),
    );
  });
});

describe('the brake with an alarm e-mail', () => {
  const props = { ...signalStackProps('prod'), monitoring: { alarmEmail: 'ops@example.com' } };
  const stack = new SignalStack(appWithoutBundling(), props.stackName, props);
  const template = Template.fromStack(stack);

  it('reports to the alarm topic, and may publish to it', () => {
    const topic = { Ref: logicalIdOf(stack.monitoring.topic as never) };
    const variable = environmentOf(stack.brake.function, template)[BRAKE_CONFIG_VARIABLE];
    expect(JSON.stringify(stack.resolve(variable))).toContain(JSON.stringify(topic));
    const role = logicalIdOf(stack.brake.function.role!);
    const publish = policyStatementsOf(template).find(
      ({ roles, statement }) =>
        roles.includes(role) && actionsOf(statement).includes('sns:Publish'),
    );
    expect(publish?.statement.Resource).toEqual(topic);
  });

  it('has a daily budget on the stage’s tags that e-mails the same address', () => {
    const { properties } = onlyResource(template, 'AWS::Budgets::Budget');
    expect(properties).toEqual({
      Budget: {
        BudgetName: 'CevitxeSignal-prod-daily',
        BudgetType: 'COST',
        TimeUnit: 'DAILY',
        BudgetLimit: { Amount: STAGES.prod.budget.dailyLimitUsd, Unit: 'USD' },
        FilterExpression: {
          And: Object.entries(stageTags('prod')).map(([key, value]) => ({
            Tags: { Key: `user:${key}`, Values: [value], MatchOptions: ['EQUALS'] },
          })),
        },
      },
      NotificationsWithSubscribers: [
        {
          Notification: {
            NotificationType: 'ACTUAL',
            ComparisonOperator: 'GREATER_THAN',
            Threshold: 100,
            ThresholdType: 'PERCENTAGE',
          },
          Subscribers: [{ SubscriptionType: 'EMAIL', Address: 'ops@example.com' }],
        },
      ],
    });
  });
});

describe('the brake’s and budget’s checks', () => {
  it('refuses a multiple of 1 or less and more than 5 periods', () => {
    const props = { ...signalStackProps('dev'), brake: { multiple: 1, evaluationPeriods: 6 } };
    expect(() => new SignalStack(appWithoutBundling(), 'Bad', props)).toThrow(
      /Invalid SignalBrake props.*\n- multiple.*got 1\n- evaluationPeriods.*got 6/,
    );
  });

  it('has no budget where the stage names none, and notifies no one without an e-mail', () => {
    const props = { ...signalStackProps('dev'), budget: undefined };
    expect(new SignalStack(appWithoutBundling(), 'NoBudget', props).budget).toBeUndefined();
    const { template } = stageStack('dev');
    expect(
      onlyResource(template, 'AWS::Budgets::Budget').properties.NotificationsWithSubscribers,
    ).toBeUndefined();
  });
});

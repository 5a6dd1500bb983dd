// The SignalServer construct in the dev stage, and with props of its own: routes, functions,
// access logging, the table, IAM and the deliver function's asynchronous invocations. Its props'
// defaults and checks are in signal-server-props.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { STAGES } from '../../bin/config.js';
import { PAIRING_GRACE_MS } from '../../lambda/core/context.js';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { TABLE_SCHEMA } from '../../lambda/core/schema.js';
import { PROJECT_ROOT, type SignalFunction } from '../../lib/signal-function.js';
import { FUNCTION_GRANTS, TABLE_ACTIONS } from '../../lib/grants.js';
import { DELIVER_ASYNC_INVOKE } from '../../lib/signal-server.js';
import {
  actionsOf,
  customStack,
  environmentOf,
  functionsOf,
  logicalIdOf,
  policyStatementsOf,
  resourcesOf,
  stageStack,
} from '../support/stacks.js';

const { stack, template } = stageStack('dev');
const server = stack.server;
const resources = resourcesOf(template);
const statements = policyStatementsOf(template);

const routeFunctions = {
  $connect: server.connectFunction,
  $default: server.defaultFunction,
  $disconnect: server.disconnectFunction,
};
const allFunctions = functionsOf(server);

const roleIdOf = (fn: { role?: IRole }): string => logicalIdOf(fn.role!);
const tableArn = { 'Fn::GetAtt': [logicalIdOf(server.table), 'Arn'] };
const resolved = (value: unknown): unknown => stack.resolve(value);

function propsOf(fn: SignalFunction): Record<string, unknown> {
  return resources[logicalIdOf(fn)]!.Properties;
}

describe('the WebSocket API', () => {
  it('has exactly the three routes $connect, $default and $disconnect', () => {
    const keys = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (route) => (route as { Properties: { RouteKey: string } }).Properties.RouteKey,
    );
    expect(keys.sort()).toEqual(['$connect', '$default', '$disconnect']);
  });

  it.each(Object.entries(routeFunctions))(
    'sends %s through its own AWS_PROXY integration to its own function',
    (routeKey, fn) => {
      const routes = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { RouteKey: routeKey },
      });
      const [route] = Object.values(routes) as Array<{ Properties: Record<string, unknown> }>;
      expect(route!.Properties.ApiId).toEqual({ Ref: logicalIdOf(server.webSocketApi) });
      const target = route!.Properties.Target as {
        'Fn::Join': [string, [string, { Ref: string }]];
      };
      expect(target['Fn::Join'][1][0]).toBe('integrations/');
      const integration = resources[target['Fn::Join'][1][1].Ref]!;

      expect(integration.Type).toBe('AWS::ApiGatewayV2::Integration');
      expect(integration.Properties.IntegrationType).toBe('AWS_PROXY');
      expect(integration.Properties.IntegrationUri).toEqual({
        'Fn::Join': ['', expect.arrayContaining([{ 'Fn::GetAtt': [logicalIdOf(fn), 'Arn'] }])],
      });
    },
  );

  it('uses one integration per route', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', 3);
    const uris = Object.values(template.findResources('AWS::ApiGatewayV2::Integration')).map(
      (integration) => JSON.stringify((integration as { Properties: unknown }).Properties),
    );
    expect(new Set(uris).size).toBe(3);
  });

  it.each(Object.entries(routeFunctions))(
    'lets API Gateway invoke the %s function, for this API only',
    (routeKey, fn) => {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalIdOf(fn), 'Arn'] },
        SourceArn: {
          'Fn::Join': [
            '',
            Match.arrayWith([{ Ref: logicalIdOf(server.webSocketApi) }, `/*${routeKey}`]),
          ],
        },
      });
    },
  );

  it('deploys the stage automatically, throttled by the stage config', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: logicalIdOf(server.webSocketApi) },
      StageName: 'dev',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: STAGES.dev.throttle.rateLimit,
        ThrottlingBurstLimit: STAGES.dev.throttle.burstLimit,
      },
    });
  });
});

describe('the functions', () => {
  it('are exactly the three route functions and the deliver function (no custom resources)', () => {
    // The fifth is the stack's brake (signal-brake.test.ts).
    template.resourceCountIs('AWS::Lambda::Function', 5);
    const ids = Object.values(allFunctions).map(logicalIdOf);
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).sort()).toEqual(
      [...ids, logicalIdOf(stack.brake.function)].sort(),
    );
  });

  it.each(Object.entries(allFunctions))(
    'runs %s on Node.js 24, arm64, from a bundled ES module handler',
    (_name, fn) => {
      expect(propsOf(fn)).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: STAGES.dev.memorySize,
      });
    },
  );

  it.each(Object.entries(routeFunctions))(
    'gives the %s function a timeout within API Gateway’s 29 s',
    (_route, fn) => {
      expect(propsOf(fn).Timeout).toBeLessThanOrEqual(29);
    },
  );

  it('lets the deliver function outlast the pairing grace period of 410 retries, within 60 s', () => {
    const timeout = propsOf(server.deliverFunction).Timeout as number;
    expect(timeout).toBeGreaterThan(PAIRING_GRACE_MS / 1000);
    expect(timeout).toBeLessThanOrEqual(60);
  });

  it.each(Object.entries(allFunctions))(
    'configures %s with the table, the management endpoint, the limits, the log level and the stage',
    (_name, fn) => {
      expect(environmentOf(fn, template)).toMatchObject({
        TABLE_NAME: { Ref: logicalIdOf(server.table) },
        MANAGEMENT_ENDPOINT: resolved(server.callbackUrl),
        LIMITS: JSON.stringify({ ...DEFAULT_LIMITS, ...STAGES.dev.limits }),
        LOG_LEVEL: STAGES.dev.logLevel,
        STAGE: 'dev',
        NODE_OPTIONS: '--enable-source-maps',
      });
    },
  );

  it.each(Object.entries(allFunctions))(
    'orders %s after its role’s policy, leaving the role to the Role GetAtt',
    (_name, fn) => {
      const policy = fn.role!.node.tryFindChild('DefaultPolicy')!;
      expect(resources[logicalIdOf(fn)]!.DependsOn).toEqual([logicalIdOf(policy)]);
    },
  );

  it('gives the management endpoint as the stage’s https callback URL', () => {
    const endpoint = JSON.stringify(
      environmentOf(server.connectFunction, template).MANAGEMENT_ENDPOINT,
    );
    expect(endpoint).toMatch(/^\{"Fn::Join":\["",\["https:\/\/",/);
    expect(endpoint).toMatch(/"\/dev"\]\]\}$/);
  });

  it('tells only the connect function the deliver function’s name', () => {
    expect(environmentOf(server.connectFunction, template).DELIVER_FUNCTION_NAME).toEqual({
      Ref: logicalIdOf(server.deliverFunction),
    });
    for (const fn of [server.defaultFunction, server.disconnectFunction, server.deliverFunction]) {
      expect(environmentOf(fn, template)).not.toHaveProperty('DELIVER_FUNCTION_NAME');
    }
  });

  it.each(Object.entries(allFunctions))(
    'logs %s to its own log group kept for the stage’s retention',
    (_name, fn) => {
      const logGroup = (propsOf(fn).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroup]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 7 },
      });
    },
  );
});

describe('access logging', () => {
  const accessLogGroup = logicalIdOf(server.accessLogGroup!);
  const stageSettings = (of: Template) =>
    Object.values(of.findResources('AWS::ApiGatewayV2::Stage'))[0] as {
      Properties: { AccessLogSettings?: { DestinationArn: unknown; Format: string } };
      DependsOn?: string[];
    };

  it('writes the stage’s access log to its own log group, kept for the stage’s retention', () => {
    const settings = stageSettings(template).Properties.AccessLogSettings!;
    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [accessLogGroup, 'Arn'] });
    expect(resources[accessLogGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 7 },
      DeletionPolicy: 'Delete',
    });
  });

  /**
   * The line API Gateway writes for `values`: each `$context` variable replaced by its value,
   * as text inside the format's quotes, and `$context.error.messageString` by the message
   * already quoted, as API Gateway documents it.
   */
  function accessLogLine(format: string, values: Record<string, string>): string {
    return format.replace(/\$context\.[A-Za-z.]+/g, (variable) => {
      const name = variable.slice('$context.'.length);
      if (name === 'error.messageString') return JSON.stringify(values['error.message'] ?? '');
      return values[name] ?? '-';
    });
  }

  it('logs JSON with ids, event, route, status and errors, never the query or a body', () => {
    const format = stageSettings(template).Properties.AccessLogSettings!.Format;
    const fields = JSON.parse(accessLogLine(format, {})) as Record<string, string>;
    expect(Object.keys(fields)).toEqual(
      expect.arrayContaining(['requestId', 'connectionId', 'eventType', 'routeKey', 'status']),
    );
    expect(format).toContain('"stage":"$context.stage"');
    expect(format).toContain('"sourceIp":"$context.identity.sourceIp"');
    for (const variable of format.match(/\$context\.[A-Za-z.]+/g)!) {
      expect(variable).not.toMatch(/query|header|body|token|authorizer/i);
    }
  });

  it('writes the error text pre-quoted, so a line stays JSON whatever the message says', () => {
    const format = stageSettings(template).Properties.AccessLogSettings!.Format;
    expect(format).toContain('"error":$context.error.messageString,');
    expect(format).not.toContain('$context.error.message"');
    // Free text that API Gateway offers no pre-quoted variable for stays out of the line.
    expect(format).not.toContain('userAgent');
    const message = 'Invalid "key": \\ not {"valid"}\nat all';
    const line = accessLogLine(format, {
      stage: 'dev',
      status: '400',
      'error.message': message,
      connectionId: 'L3x0dGVzdA=',
    });
    expect(JSON.parse(line)).toMatchObject({
      stage: 'dev',
      status: '400',
      error: message,
      connectionId: 'L3x0dGVzdA=',
    });
  });

  it('names a CloudWatch Logs role for API Gateway in the account, kept when the stack goes', () => {
    // prod sets the account's role (see the per-stage test below).
    const { stack: prodStack, template: prodTemplate } = stageStack('prod');
    const prodServer = prodStack.server;
    const role = logicalIdOf(prodServer.apiGatewayCloudWatchRole!);
    const [accountId, account] = Object.entries(
      prodTemplate.findResources('AWS::ApiGateway::Account'),
    )[0] as [string, { Properties: unknown; DependsOn?: string[] }];
    expect(account.Properties).toEqual({ CloudWatchRoleArn: { 'Fn::GetAtt': [role, 'Arn'] } });
    expect(resourcesOf(prodTemplate)[role]).toMatchObject({ DeletionPolicy: 'Retain' });
    prodTemplate.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })],
      },
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
            ],
          ],
        },
      ],
    });
    // Set after the API exists (else "role ARN does not have required permissions"), and the
    // stage is created (and starts logging) only once the account names the role.
    expect(account.DependsOn).toEqual([logicalIdOf(prodServer.webSocketApi)]);
    expect(stageSettings(prodTemplate).DependsOn).toContain(accountId);
  });

  it('leaves the account’s role alone when told to, and still logs', () => {
    const { template: own } = customStack({ server: { apiGatewayCloudWatchRole: false } });
    own.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(stageSettings(own).Properties.AccessLogSettings).toBeDefined();
  });

  it('can be turned off: no access log group and no account role', () => {
    const { stack: off, template: quiet } = customStack({
      server: { accessLogging: false, apiGatewayCloudWatchRole: false },
    });
    expect(off.server.accessLogGroup).toBeUndefined();
    expect(stageSettings(quiet).Properties.AccessLogSettings).toBeUndefined();
    // The four functions' and the brake's.
    quiet.resourceCountIs('AWS::Logs::LogGroup', 5);
    quiet.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('the table', () => {
  it('keys on pk and sk strings, expires items by expiresAt, bills on demand, has no index', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: Match.absent(),
    });
  });

  it('uses the attribute names the store imports from lambda/core/schema.ts', () => {
    expect(TABLE_SCHEMA).toEqual({
      partitionKey: 'pk',
      sortKey: 'sk',
      timeToLiveAttribute: 'expiresAt',
    });
  });
});

describe('IAM', () => {
  const dynamodb = statements.filter(({ statement }) =>
    actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
  );
  const manageConnections = statements.filter(({ statement }) =>
    actionsOf(statement).includes('execute-api:ManageConnections'),
  );
  const invoke = statements.filter(({ statement }) =>
    actionsOf(statement).includes('lambda:InvokeFunction'),
  );

  // What the code each handler reaches calls (lambda/core): nothing it never calls.
  const expectedTable: Record<string, string[]> = {
    connect: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
    default: [
      'GetItem',
      'BatchGetItem',
      'Query',
      'PutItem',
      'UpdateItem',
      'DeleteItem',
      'BatchWriteItem',
    ],
    disconnect: ['GetItem', 'BatchGetItem', 'Query', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
    deliver: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
  };
  const expectedMethods: Record<string, string[]> = {
    connect: ['DELETE', 'GET', 'POST'],
    default: ['DELETE', 'POST'],
    disconnect: ['DELETE', 'POST'],
    deliver: ['DELETE', 'POST'],
  };

  it.each(Object.entries(allFunctions))(
    'lets %s use exactly the table actions its code calls',
    (name, fn) => {
      const own = dynamodb.filter(({ roles }) => roles.includes(roleIdOf(fn)));
      const actions = own.flatMap(({ statement }) => actionsOf(statement));
      expect([...actions].sort()).toEqual(
        expectedTable[name]!.map((action) => `dynamodb:${action}`).sort(),
      );
    },
  );

  it('grants, over all functions, every table action the store calls', () => {
    const granted = new Set(Object.values(FUNCTION_GRANTS).flatMap((grants) => [...grants.table]));
    expect([...granted].sort()).toEqual([...TABLE_ACTIONS].sort());
  });

  it('grants the DynamoDB actions of exactly the commands lambda/core/store/ sends', () => {
    // GetCommand -> GetItem, BatchWriteCommand -> BatchWriteItem, QueryCommand -> Query, ...
    const folder = join(PROJECT_ROOT, 'lambda/core/store');
    const source = readdirSync(folder)
      .map((file) => readFileSync(join(folder, file), 'utf8'))
      .join('\n');
    const commands = new Set([...source.matchAll(/\bnew (\w+)Command\(/g)].map((m) => m[1]!));
    const actionOf = (command: string): string =>
      `dynamodb:${['Query', 'Scan'].includes(command) ? command : `${command}Item`}`;
    expect([...commands].map(actionOf).sort()).toEqual([...TABLE_ACTIONS].sort());
  });

  it('grants no Scan and no table administration anywhere', () => {
    const everyAction = statements.flatMap(({ statement }) => actionsOf(statement));
    expect(everyAction).not.toContain('dynamodb:Scan');
    expect(everyAction.filter((action) => /^dynamodb:.*\*/.test(action))).toEqual([]);
    expect(everyAction).not.toContain('dynamodb:DescribeTable');
    expect(JSON.stringify(template.toJSON())).not.toContain('dynamodb:Scan');
  });

  it('scopes every DynamoDB statement to the table’s ARN', () => {
    expect(dynamodb.length).toBeGreaterThanOrEqual(4);
    for (const { statement } of dynamodb) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Resource).toEqual(tableArn);
    }
  });

  /** The `<stage>/<method>/@connections/*` tails of the function's ManageConnections grants. */
  const connectionsGrantedTo = (fn: SignalFunction): string[] => {
    const own = manageConnections.filter(({ roles }) => roles.includes(roleIdOf(fn)));
    expect(own).toHaveLength(1);
    const resources = [own[0]!.statement.Resource].flat() as {
      'Fn::Join': [string, unknown[]];
    }[];
    return resources.map(({ 'Fn::Join': [, parts] }) => {
      // This API's ARN, in this account and region, then the tail.
      expect(parts.slice(0, -1)).toEqual([
        'arn:',
        { Ref: 'AWS::Partition' },
        ':execute-api:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':',
        { Ref: logicalIdOf(server.webSocketApi) },
      ]);
      return parts.at(-1) as string;
    });
  };

  it.each(Object.entries(allFunctions))(
    'lets %s call only the @connections methods its code calls, on this stage only',
    (name, fn) => {
      expect(connectionsGrantedTo(fn).sort()).toEqual(
        expectedMethods[name]!.map((method) => `/dev/${method}/@connections/*`).sort(),
      );
    },
  );

  it('lets only the connect function ask whether a socket is open (GetConnection, to pair)', () => {
    const mayGet = Object.entries(allFunctions)
      .filter(([, fn]) => connectionsGrantedTo(fn).some((tail) => tail.includes('/GET/')))
      .map(([name]) => name);
    expect(mayGet).toEqual(['connect']);
  });

  it('lets only the deliver function send to its failure queue, and only there', () => {
    const sqs = statements.filter(({ statement }) =>
      actionsOf(statement).some((action) => action.startsWith('sqs:')),
    );
    expect(sqs).toHaveLength(1);
    expect(sqs[0]!.roles).toEqual([roleIdOf(server.deliverFunction)]);
    expect(actionsOf(sqs[0]!.statement)).toContain('sqs:SendMessage');
    expect(sqs[0]!.statement.Resource).toEqual({
      'Fn::GetAtt': [logicalIdOf(server.deliverFailureQueue), 'Arn'],
    });
  });

  it('lets only the connect function invoke the deliver function, and nothing else', () => {
    expect(invoke).toHaveLength(1);
    const [{ roles, statement }] = invoke as [(typeof invoke)[number]];
    expect(roles).toEqual([roleIdOf(server.connectFunction)]);
    expect(actionsOf(statement)).toEqual(['lambda:InvokeFunction']);
    const deliverArn = { 'Fn::GetAtt': [logicalIdOf(server.deliverFunction), 'Arn'] };
    // The unqualified function (and $LATEST, the same code): no wildcard over versions.
    expect(statement.Resource).toEqual(
      expect.arrayContaining([deliverArn, { 'Fn::Join': ['', [deliverArn, ':$LATEST']] }]),
    );
    expect(statement.Resource).toHaveLength(2);
  });

  it('grants nothing on a wildcard resource', () => {
    for (const { statement } of statements) {
      const targets = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      expect(targets).not.toContain('*');
    }
  });

  it.each(Object.entries(allFunctions))(
    'lets %s write logs to its own log group only, with no managed policy',
    (_name, fn) => {
      const own = statements.filter(
        ({ roles, statement }) =>
          roles.includes(roleIdOf(fn)) && actionsOf(statement).some((a) => a.startsWith('logs:')),
      );
      expect(own).toHaveLength(1);
      expect(actionsOf(own[0]!.statement).sort()).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ]);
      const logGroup = (propsOf(fn).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(own[0]!.statement.Resource).toEqual({ 'Fn::GetAtt': [logGroup, 'Arn'] });
      expect(resources[roleIdOf(fn)]!.Properties.ManagedPolicyArns).toBeUndefined();
    },
  );

  it('attaches no policy beyond logs, table, connections, deliver invocation and its failures', () => {
    const allowed =
      /^(logs:(CreateLogStream|PutLogEvents)$|dynamodb:|execute-api:ManageConnections$|lambda:InvokeFunction$|sqs:(SendMessage|GetQueueAttributes|GetQueueUrl)$)/;
    const brakeRole = logicalIdOf(stack.brake.function.role!);
    for (const { roles, statement } of statements) {
      if (roles.includes(brakeRole)) continue; // signal-brake.test.ts
      for (const action of actionsOf(statement)) expect(action).toMatch(allowed);
    }
  });
});

describe('the deliver function’s asynchronous invocations', () => {
  const queue = logicalIdOf(server.deliverFailureQueue);

  it('are retried twice, for at most minutes, then recorded in a failure queue', () => {
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdOf(server.deliverFunction) },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(DELIVER_ASYNC_INVOKE.maxEventAge.toSeconds()).toBeLessThan(60 * 60);
  });

  it('keeps failures encrypted for 14 days, reachable over TLS only', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

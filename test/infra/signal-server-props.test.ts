// SignalServer's props (lib/signal-server-props.ts): the defaults, what each optional prop does
// to the functions, and the checks that refuse bad values up front.
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Limits } from '../../lambda/core/limits.js';
import type { SignalFunction } from '../../lib/signal-function.js';
import type { SignalServer, SignalServerProps } from '../../lib/signal-server.js';
import { customStack, environmentOf, functionsOf, stageStack } from '../support/stacks.js';

// The dev stage: a server whose stage config sets neither origins nor a token.
const { stack, template } = stageStack('dev');
const allFunctions = functionsOf(stack.server);

/** The protocol's four functions (the brake has its own memory and settings), as templated. */
function serverFunctions(template: Template) {
  type Fn = { Properties: { MemorySize?: number; Environment?: { Variables?: object } } };
  const functions = Object.entries(template.findResources('AWS::Lambda::Function')) as [
    string,
    Fn,
  ][];
  const server = functions.filter(([id]) => !id.startsWith('BrakeFunction'));
  expect(server).toHaveLength(4);
  return server.map(([, { Properties }]) => ({
    MemorySize: Properties.MemorySize,
    variables: Properties.Environment?.Variables ?? {},
  }));
}

describe('SignalServer props', () => {
  const serverOf = (props?: SignalServerProps): SignalServer =>
    customStack({ server: props }).stack.server;

  it('falls back to documented defaults when given no props', () => {
    const { stack, template } = customStack();
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
    for (const fn of serverFunctions(template)) {
      expect(fn.MemorySize).toBe(256);
      expect(fn.variables).toMatchObject({
        LOG_LEVEL: 'info',
        LIMITS: JSON.stringify(DEFAULT_LIMITS),
      });
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
    expect(stack.server.limits).toEqual(DEFAULT_LIMITS);
  });

  it('merges partial limits over the defaults and passes them to every function', () => {
    const server = serverOf({ limits: { maxHeldFrames: 16, maxFanOut: 50 } });
    const expected: Limits = { ...DEFAULT_LIMITS, maxHeldFrames: 16, maxFanOut: 50 };
    expect(server.limits).toEqual(expected);
    const template = customStack({
      server: { limits: { maxHeldFrames: 16, maxFanOut: 50 } },
    }).template;
    for (const fn of serverFunctions(template))
      expect(fn.variables).toMatchObject({ LIMITS: JSON.stringify(expected) });
  });

  it('passes allowed origins to the connect function only, and none by default', () => {
    const server = serverOf({
      allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
    });
    const env = (fn: SignalFunction) =>
      (
        Stack.of(fn).resolve((fn.node.defaultChild as CfnFunction).environment) as {
          variables: Record<string, unknown>;
        }
      ).variables;
    expect(env(server.connectFunction).ALLOWED_ORIGINS).toBe(
      'https://app.example.com,http://localhost:3000',
    );
    for (const fn of [server.defaultFunction, server.disconnectFunction, server.deliverFunction]) {
      expect(env(fn)).not.toHaveProperty('ALLOWED_ORIGINS');
    }
    expect(environmentOf(stack.server.connectFunction, template)).not.toHaveProperty(
      'ALLOWED_ORIGINS',
    );
  });

  it('resolves the token from the named SSM parameter at deploy, for the connect function only', () => {
    const { stack, template } = customStack({
      server: { connectTokenParameter: '/cevitxe/dev/connect-token' },
    });
    // A stack parameter of SSM type: the template holds the name, CloudFormation the value.
    const parameters = template.findParameters('*', {
      Type: 'AWS::SSM::Parameter::Value<String>',
      Default: '/cevitxe/dev/connect-token',
    });
    expect(Object.keys(parameters)).toHaveLength(1);
    const [parameter] = Object.keys(parameters) as [string];
    expect(environmentOf(stack.server.connectFunction, template).CONNECT_TOKEN).toEqual({
      Ref: parameter,
    });
    for (const fn of [
      stack.server.defaultFunction,
      stack.server.disconnectFunction,
      stack.server.deliverFunction,
    ]) {
      expect(environmentOf(fn, template)).not.toHaveProperty('CONNECT_TOKEN');
    }
  });

  it('asks for no token by default: no parameter, no CONNECT_TOKEN', () => {
    expect(Object.keys(template.findParameters('*'))).toEqual(['BootstrapVersion']);
    for (const fn of Object.values(allFunctions)) {
      expect(environmentOf(fn, template)).not.toHaveProperty('CONNECT_TOKEN');
    }
  });

  it.each<[string, SignalServerProps, RegExp]>([
    [
      'a token parameter name with a space',
      { connectTokenParameter: '/cevitxe/my token' },
      /connectTokenParameter "\/cevitxe\/my token"/,
    ],
    [
      'a token parameter path without its leading slash',
      { connectTokenParameter: 'cevitxe/token' },
      /connectTokenParameter/,
    ],
    ['an empty token parameter name', { connectTokenParameter: '' }, /connectTokenParameter/],
    [
      'a token parameter given as an ARN',
      { connectTokenParameter: 'arn:aws:ssm:us-east-1:123456789012:parameter/t' },
      /connectTokenParameter/,
    ],
    [
      'an allowed origin with a path',
      { allowedOrigins: ['https://app.example.com/'] },
      /allowedOrigins entry "https:\/\/app\.example\.com\/"/,
    ],
    [
      'an allowed origin without a scheme',
      { allowedOrigins: ['app.example.com'] },
      /allowedOrigins/,
    ],
    [
      'an allowed origin with a comma',
      { allowedOrigins: ['https://a.com,https://b.com'] },
      /allowedOrigins/,
    ],
    ['a zero burst limit', { throttle: { rateLimit: 10, burstLimit: 0 } }, /burstLimit/],
    ['a fractional burst limit', { throttle: { rateLimit: 10, burstLimit: 1.5 } }, /burstLimit/],
    ['a zero rate limit', { throttle: { rateLimit: 0, burstLimit: 10 } }, /rateLimit/],
    ['a negative rate limit', { throttle: { rateLimit: -1, burstLimit: 10 } }, /rateLimit/],
    ['an infinite rate limit', { throttle: { rateLimit: Infinity, burstLimit: 10 } }, /rateLimit/],
    ['a zero limit', { limits: { maxHeldFrames: 0 } }, /limits\.maxHeldFrames/],
    ['a fractional limit', { limits: { maxFanOut: 2.5 } }, /limits\.maxFanOut/],
    ['a negative limit', { limits: { maxKeysPerPeer: -3 } }, /limits\.maxKeysPerPeer/],
    [
      'a limit that is not a number',
      { limits: { maxIdLength: '256' as unknown as number } },
      /limits\.maxIdLength/,
    ],
    [
      'an unknown limit',
      { limits: { maxPeers: 3 } as Partial<Limits> },
      /limits\.maxPeers is not a known limit/,
    ],
    [
      'held bytes below one full frame',
      { limits: { maxHeldBytes: 1024 } },
      /maxHeldBytes .* below the 32768-byte frame limit/,
    ],
    [
      'an introduction budget the largest fan-out cannot fit',
      { limits: { maxFanOut: 100, introductionPostsPerMinute: 799 } },
      /introductionPostsPerMinute \(799\) is below 800 \(4 shards × 2 × maxFanOut 100\)/,
    ],
    ['a stage name with a slash', { stageName: 'dev/1' }, /stageName "dev\/1"/],
    ['a stage name with a space', { stageName: 'my stage' }, /stageName/],
    ['an empty stage name', { stageName: '' }, /stageName/],
    ['a stage name over 128 characters', { stageName: 'a'.repeat(129) }, /stageName/],
    ['memory below 128 MB', { memorySize: 64 }, /memorySize/],
    ['memory above 10240 MB', { memorySize: 10241 }, /memorySize/],
    ['an unknown log level', { logLevel: 'verbose' as 'info' }, /logLevel/],
  ])('rejects %s', (_case, props, message) => {
    expect(() => serverOf(props)).toThrow(message);
  });

  it('reports every problem at once', () => {
    expect(() =>
      serverOf({ stageName: 'a b', memorySize: 1, throttle: { rateLimit: 0, burstLimit: 0 } }),
    ).toThrow(/stageName[\s\S]*rateLimit[\s\S]*burstLimit[\s\S]*memorySize/);
  });

  it('accepts the boundary values', () => {
    expect(() =>
      serverOf({
        stageName: 'A_b-9',
        memorySize: 10240,
        throttle: { rateLimit: 0.5, burstLimit: 1 },
        // The $connect throttle must stay below the stage's.
        caps: { connectThrottle: { rateLimit: 0.25, burstLimit: 1 } },
        limits: {
          maxHeldBytes: 32 * 1024,
          maxHeldFrames: 1,
          maxFanOut: 100,
          introductionPostsPerMinute: 800,
        },
      }),
    ).not.toThrow();
    expect(() => serverOf({ memorySize: 128 })).not.toThrow();
  });
});

import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import { createServices, parseLimits, settingsFromEnvironment } from '../../lambda/runtime.js';

const required = {
  TABLE_NAME: 'signal-dev',
  MANAGEMENT_ENDPOINT: 'https://abc.execute-api.eu-west-1.amazonaws.com/dev',
};

describe('parseLimits', () => {
  it('uses the defaults when LIMITS is unset or empty', () => {
    expect(parseLimits(undefined)).toEqual(DEFAULT_LIMITS);
    expect(parseLimits('')).toEqual(DEFAULT_LIMITS);
  });

  it('overrides only the limits given', () => {
    expect(parseLimits('{"maxHeldFrames":8,"maxFanOut":50}')).toEqual({
      ...DEFAULT_LIMITS,
      maxHeldFrames: 8,
      maxFanOut: 50,
    });
  });

  it('refuses unknown limits, so a typo never silently keeps a default', () => {
    expect(() => parseLimits('{"maxHeldFrame":8}')).toThrow('LIMITS: unknown limit maxHeldFrame');
  });

  it.each([['0'], ['-1'], ['1.5'], ['"8"'], ['null'], ['true']])(
    'refuses %s as a limit value',
    (value) => {
      expect(() => parseLimits(`{"maxFanOut":${value}}`)).toThrow(
        'LIMITS: maxFanOut must be a positive integer',
      );
    },
  );

  it.each([['256'], ['null'], ['[]'], ['"maxFanOut"'], ['not json']])(
    'fails loudly when LIMITS is %s rather than a JSON object',
    (text) => {
      expect(() => parseLimits(text)).toThrow(/LIMITS/);
    },
  );
});

describe('settingsFromEnvironment', () => {
  it('fails loudly, naming every missing variable', () => {
    expect(() => settingsFromEnvironment({})).toThrow(
      'missing environment variables: TABLE_NAME, MANAGEMENT_ENDPOINT',
    );
    expect(() => settingsFromEnvironment({ TABLE_NAME: 't', MANAGEMENT_ENDPOINT: '' })).toThrow(
      'missing environment variables: MANAGEMENT_ENDPOINT',
    );
  });

  it('reads the settings with their defaults', () => {
    expect(settingsFromEnvironment(required)).toEqual({
      tableName: 'signal-dev',
      managementEndpoint: required.MANAGEMENT_ENDPOINT,
      deliverFunctionName: '',
      limits: DEFAULT_LIMITS,
      logLevel: 'info',
      stage: 'unknown',
      access: { allowedOrigins: [] },
    });
  });

  it('reads every optional variable', () => {
    const settings = settingsFromEnvironment({
      ...required,
      DELIVER_FUNCTION_NAME: 'deliver-fn',
      LIMITS: '{"maxKeysPerPeer":10}',
      LOG_LEVEL: 'debug',
      STAGE: 'prod',
      ALLOWED_ORIGINS: ' https://a.example , https://b.example,,',
      CONNECT_TOKEN: 'secret',
      EDGE_SECRET: 'from-the-edge',
    });
    expect(settings).toMatchObject({
      deliverFunctionName: 'deliver-fn',
      limits: { ...DEFAULT_LIMITS, maxKeysPerPeer: 10 },
      logLevel: 'debug',
      stage: 'prod',
      access: {
        allowedOrigins: ['https://a.example', 'https://b.example'],
        token: 'secret',
        edgeSecret: 'from-the-edge',
      },
    });
  });

  it('refuses an unknown log level and bad limits at start-up', () => {
    expect(() => settingsFromEnvironment({ ...required, LOG_LEVEL: 'verbose' })).toThrow(
      'LOG_LEVEL must be debug, info, warn or error',
    );
    expect(() => settingsFromEnvironment({ ...required, LIMITS: '{"maxFanOut":0}' })).toThrow(
      'LIMITS: maxFanOut must be a positive integer',
    );
  });
});

describe('createServices', () => {
  const lambda = mockClient(LambdaClient);
  afterEach(() => lambda.reset());

  it('hands the settings to the services', () => {
    const settings = settingsFromEnvironment({ ...required, LIMITS: '{"maxFanOut":3}' });
    const now = () => 42;
    const services = createServices(settings, { region: 'eu-west-1' }, now);
    expect(services.limits.maxFanOut).toBe(3);
    expect(services.now).toBe(now);
    expect(services.access).toEqual({ allowedOrigins: [] });
  });

  it('invokes the deliver function asynchronously with the job as payload', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const settings = settingsFromEnvironment({ ...required, DELIVER_FUNCTION_NAME: 'deliver-fn' });
    const services = createServices(settings, { region: 'eu-west-1' });
    await services.deliveryInvoker.deliverLater({ from: 'a', to: 'b', pairedAt: 5 });
    const [call] = lambda.commandCalls(InvokeCommand);
    expect(call?.args[0].input).toMatchObject({
      FunctionName: 'deliver-fn',
      InvocationType: 'Event',
    });
    expect(JSON.parse(Buffer.from(call!.args[0].input.Payload as Uint8Array).toString())).toEqual({
      from: 'a',
      to: 'b',
      pairedAt: 5,
    });
  });

  it('fails loudly when a function without DELIVER_FUNCTION_NAME tries to defer', async () => {
    const services = createServices(settingsFromEnvironment(required), { region: 'eu-west-1' });
    await expect(
      services.deliveryInvoker.deliverLater({ from: 'a', to: 'b', pairedAt: 5 }),
    ).rejects.toThrow('DELIVER_FUNCTION_NAME is not set for this function');
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });
});

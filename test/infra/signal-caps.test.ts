// The caps of each stage as its template sets them: the $connect route throttle, reserved
// concurrency per function, and the table's on-demand maximums (bin/config.ts `caps`).
import { describe, expect, it } from 'vitest';
import { STAGES, type StageName } from '../../bin/config.js';
import type { Limits } from '../../lambda/core/limits.js';
import { SIGNAL_CAPS_DEFAULTS } from '../../lib/signal-caps.js';
import { SignalServer } from '../../lib/signal-server.js';
import {
  appWithoutBundling,
  customStack,
  functionsOf,
  logicalIdOf,
  onlyResource,
  resourcesOf,
  stageStack,
} from '../support/stacks.js';
import { Stack } from 'aws-cdk-lib';

describe.each(Object.keys(STAGES) as StageName[])('the %s stage', (stage) => {
  const { stack, template } = stageStack(stage);
  const { caps, throttle } = STAGES[stage];
  const resources = resourcesOf(template);

  it('throttles $connect on its own route, below the stage default', () => {
    const { properties, id } = onlyResource(template, 'AWS::ApiGatewayV2::Stage');
    expect(properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: throttle.rateLimit,
      ThrottlingBurstLimit: throttle.burstLimit,
    });
    expect(properties.RouteSettings).toEqual({
      $connect: {
        ThrottlingRateLimit: caps.connectThrottle.rateLimit,
        ThrottlingBurstLimit: caps.connectThrottle.burstLimit,
      },
    });
    expect(caps.connectThrottle.rateLimit).toBeLessThan(throttle.rateLimit);
    // CloudFormation refuses route settings for a route that does not exist yet.
    const connectRoute = logicalIdOf(stack.server.webSocketApi.node.findChild('$connect-Route'));
    expect(resources[id]!.DependsOn).toContain(connectRoute);
  });

  it('reserves concurrency for each function as configured (prod every one, dev none)', () => {
    const reserved: Record<string, number | undefined> = { ...caps.reservedConcurrency };
    const functions = { ...functionsOf(stack.server), brake: stack.brake.function };
    for (const [name, fn] of Object.entries(functions)) {
      expect(resources[logicalIdOf(fn)]!.Properties.ReservedConcurrentExecutions, name).toBe(
        reserved[name],
      );
    }
    if (stage === 'prod')
      expect(Object.keys(reserved).sort()).toEqual(Object.keys(functions).sort());
    else expect(reserved).toEqual({});
  });

  it('caps the table’s on-demand read and write units', () => {
    const { properties } = onlyResource(template, 'AWS::DynamoDB::GlobalTable');
    expect(properties.WriteOnDemandThroughputSettings).toEqual({
      MaxWriteRequestUnits: caps.tableMaxWriteUnits,
    });
    expect(properties.Replicas).toEqual([
      expect.objectContaining({
        ReadOnDemandThroughputSettings: { MaxReadRequestUnits: caps.tableMaxReadUnits },
      }),
    ]);
  });

  it('gives every function the stage’s introduction budget (dev 12,000, prod 60,000 a minute)', () => {
    const expected = { dev: 12_000, prod: 60_000 }[stage];
    for (const [name, fn] of Object.entries(functionsOf(stack.server))) {
      const { Environment } = resources[logicalIdOf(fn)]!.Properties as {
        Environment: { Variables: { LIMITS: string } };
      };
      const limits = JSON.parse(Environment.Variables.LIMITS) as Limits;
      expect(limits.introductionPostsPerMinute, name).toBe(expected);
    }
  });
});

describe('the caps’ defaults and checks', () => {
  it('throttle $connect and cap the table, reserving nothing, when a server names no caps', () => {
    const { template, stack } = customStack({});
    expect(stack.server.caps).toEqual(SIGNAL_CAPS_DEFAULTS);
    expect(onlyResource(template, 'AWS::ApiGatewayV2::Stage').properties.RouteSettings).toEqual({
      $connect: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
    });
    for (const fn of Object.values(functionsOf(stack.server)))
      expect(
        resourcesOf(template)[logicalIdOf(fn)]!.Properties.ReservedConcurrentExecutions,
      ).toBeUndefined();
  });

  it('refuses a $connect throttle at or above the stage’s, bad counts and unknown functions, all at once', () => {
    const stack = new Stack(appWithoutBundling(), 'Capped');
    expect(
      () =>
        new SignalServer(stack, 'Server', {
          throttle: { rateLimit: 100, burstLimit: 200 },
          caps: {
            connectThrottle: { rateLimit: 100, burstLimit: 0 },
            reservedConcurrency: { default: 0, ...({ relay: 5 } as object) },
            tableMaxReadUnits: 1.5,
            tableMaxWriteUnits: 0,
          },
        }),
    ).toThrow(
      /burstLimit must be an integer of at least 1.*\n- caps\.connectThrottle\.rateLimit \(100\) must be below the stage throttle's 100.*\n- caps\.reservedConcurrency\.default must be.*\n- caps\.reservedConcurrency\.relay is not a function.*\n- caps\.tableMaxReadUnits.*\n- caps\.tableMaxWriteUnits/,
    );
  });
});

// cdk-nag's AwsSolutions rules over every stage's stack and the configurations a stage can choose.
//
// cdk-nag 3 is a CDK policy validation plugin, not an Aspect: `Aspects.of(app).add(new
// AwsSolutionsChecks())` fails ("aspect.visit is not a function"), and its findings never become
// annotations, so `Annotations.fromStack(...)` cannot see them. Instead it runs at synth when
// registered with `Validations.of(app).addPlugins(new AwsSolutionsChecks(app))` (bin/app.ts does),
// and `validateScope(scope)` returns the same report directly. Findings are accepted in the
// constructs with `Validations.of(construct).acknowledge({ id, reason })`.
import { Stack, Validations, type PolicyViolation } from 'aws-cdk-lib';
import { WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { signalStackProps, STAGES, type StageName } from '../../bin/config.js';
import { EdgeWebAclStack } from '../../lib/edge-web-acl.js';
import { SignalStack, type SignalStackProps } from '../../lib/signal-stack.js';
import {
  appWithoutBundling,
  CERTIFICATE_ARN,
  customStack,
  stageStack,
  WEB_ACL_ARN,
} from '../support/stacks.js';

/** Every unacknowledged AwsSolutions error and warning, one readable line each. */
function findings(scope: IConstruct): string[] {
  const { violations } = new AwsSolutionsChecks().validateScope(scope);
  return violations.flatMap((violation: PolicyViolation) =>
    violation.violatingResources.map(
      (resource) => `${violation.severity} ${violation.ruleName} at ${resource.constructPath}`,
    ),
  );
}

/**
 * Every cdk-nag acknowledgment recorded in the tree: rule id (without CDK's prefix) and reason.
 * Guard's (`cdk-validator-cfnguard::…`) are guard.test.ts's.
 */
function acknowledgments(scope: IConstruct): Array<{ id: string; reason: string; at: string }> {
  return allAcknowledgments(scope).filter(({ id }) => !id.startsWith('cdk-validator-cfnguard::'));
}

function allAcknowledgments(scope: IConstruct): Array<{ id: string; reason: string; at: string }> {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          id: id.replace(/^annotation::/i, ''),
          reason,
          at: construct.node.path,
        })),
      ),
  );
}

describe.each(Object.keys(STAGES) as StageName[])('the %s stage', (stage) => {
  const { stack } = stageStack(stage);

  it('has no unacknowledged AwsSolutions error or warning', () => {
    expect(findings(stack)).toEqual([]);
  });

  it('accepts only the findings this product has a reason for, each with its own reason', () => {
    const acks = acknowledgments(stack);
    const ids = [...new Set(acks.map(({ id }) => id.replace(/\[.*\]$/, '[…]')))].sort();
    expect(ids).toEqual(
      [
        'AwsSolutions-APIG4',
        'AwsSolutions-CFR1',
        'AwsSolutions-CFR2',
        'AwsSolutions-CFR3',
        'AwsSolutions-CFR4',
        // The AWS-managed policy of the account's API Gateway logging role, where the stage sets it.
        ...(STAGES[stage].apiGatewayCloudWatchRole ? ['AwsSolutions-IAM4[…]'] : []),
        'AwsSolutions-IAM5[…]',
        // The deliver function's failure queue is itself a dead-letter queue.
        'AwsSolutions-SQS3',
        // The edge's secret: a dynamic reference is only resolved when its users are updated.
        ...(STAGES[stage].edge.requireEdgeSecret ? ['AwsSolutions-SMG4'] : []),
      ].sort(),
    );
    for (const { id, reason } of acks) {
      expect(id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length, `reason for ${id}`).toBeGreaterThan(80);
    }
    // No bulk acknowledgments: wildcard findings are accepted one resource at a time.
    expect(acks.filter(({ id }) => /^AwsSolutions-IAM[45]$/.test(id))).toEqual([]);
  });

  it('accepts the @connections wildcard on each function role, for this stage only', () => {
    const iam5 = acknowledgments(stack).filter(({ id }) => id.startsWith('AwsSolutions-IAM5'));
    // One per method each role may call: POST and DELETE for all, GET for the connect function.
    expect(iam5.map(({ at }) => at.split('/').pop()).sort()).toEqual(
      [
        ...['ConnectFunctionRole', 'ConnectFunctionRole', 'ConnectFunctionRole'],
        ...['DefaultFunctionRole', 'DefaultFunctionRole'],
        ...['DeliverFunctionRole', 'DeliverFunctionRole'],
        ...['DisconnectFunctionRole', 'DisconnectFunctionRole'],
      ].sort(),
    );
    for (const { id } of iam5) {
      expect(id).toMatch(
        new RegExp(
          `^AwsSolutions-IAM5\\[Resource::arn:.*/${stage}/(POST|DELETE|GET)/@connections/\\*\\]$`,
        ),
      );
    }
  });
});

describe('the configurations a stage can choose', () => {
  it.each<[string, SignalStackProps]>([
    ['the edge off', { edge: { enabled: false } }],
    [
      'a custom domain with a hosted zone',
      {
        edge: {
          enabled: true,
          customDomain: {
            domainName: 'signal.example.com',
            certificateArn: CERTIFICATE_ARN,
            hostedZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' },
          },
        },
      },
    ],
    [
      'the shared token and an origin allowlist',
      {
        server: {
          connectTokenParameter: '/cevitxe/dev/connect-token',
          allowedOrigins: ['https://app.example.com'],
        },
      },
    ],
    [
      'the account logging role left to the account',
      { server: { apiGatewayCloudWatchRole: false } },
    ],
    ['access logging off', { server: { accessLogging: false, apiGatewayCloudWatchRole: false } }],
    ['alarms e-mailed', { monitoring: { alarmEmail: 'ops@example.com' } }],
    ['the edge secret not required', { edge: { enabled: true, requireEdgeSecret: false } }],
    ['a WAF web ACL on the edge', { edge: { enabled: true, webAclArn: WEB_ACL_ARN } }],
  ])('pass with %s', (_what, props) => {
    expect(findings(customStack(props).stack)).toEqual([]);
  });

  it('meets CFR2 with a web ACL instead of accepting it', () => {
    const { stack } = customStack({ edge: { enabled: true, webAclArn: WEB_ACL_ARN } });
    expect(acknowledgments(stack).map(({ id }) => id)).not.toContain('AwsSolutions-CFR2');
    expect(findings(stack)).toEqual([]);
  });

  it('finds nothing in the WAF web ACL stack', () => {
    const stack = new EdgeWebAclStack(appWithoutBundling(), 'Waf', {
      env: { region: 'us-east-1' },
    });
    expect(findings(stack)).toEqual([]);
    expect(acknowledgments(stack)).toEqual([]);
  });

  it('holds TLS 1.2 at a custom domain instead of accepting CFR4', () => {
    const { stack } = customStack({
      edge: {
        enabled: true,
        customDomain: { domainName: 'signal.example.com', certificateArn: CERTIFICATE_ARN },
      },
    });
    expect(acknowledgments(stack).map(({ id }) => id)).not.toContain('AwsSolutions-CFR4');
    expect(findings(stack)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('report what nothing acknowledges: a stage without access logging', () => {
    const stack = new Stack(appWithoutBundling(), 'Bare');
    new WebSocketStage(stack, 'Stage', {
      webSocketApi: new WebSocketApi(stack, 'Api'),
      stageName: 'bare',
    });
    expect(findings(stack)).toContain('error AwsSolutions-APIG1 at Bare/Stage/Resource');
  });

  it('run as a validation plugin at synth and let both stages through', () => {
    const app = appWithoutBundling();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    for (const stage of Object.keys(STAGES) as StageName[]) {
      const props = signalStackProps(stage);
      new SignalStack(app, props.stackName, props);
    }
    expect(() => app.synth()).not.toThrow();
  });

  it('stop synth on an unacknowledged error', () => {
    const app = appWithoutBundling();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'Bare');
    new WebSocketStage(stack, 'Stage', {
      webSocketApi: new WebSocketApi(stack, 'Api'),
      stageName: 'bare',
    });
    expect(() => app.synth()).toThrow(/AwsSolutions-APIG1/);
  });
});

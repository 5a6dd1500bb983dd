// The stages bin/config.ts defines, as bin/app.ts deploys them: what differs between dev and prod,
// and what every stage shares (pinned env, feature flags).
import { FeatureFlags } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { parseStage, signalStackProps, STAGES, stackNameOf } from '../../bin/config.js';
import { SignalStack } from '../../lib/signal-stack.js';
import {
  appWithoutBundling,
  CDK_JSON_CONTEXT,
  customStack,
  environmentOf,
  functionsOf,
  logicalIdOf,
  resourcesOf,
  stageStack,
} from '../support/stacks.js';

const { stack, template } = stageStack('dev');
const server = stack.server;

describe('per-stage configuration', () => {
  const dev = stageStack('dev').template;
  const prod = stageStack('prod').template;

  it('names each stack after its stage', () => {
    expect(stackNameOf('dev')).toBe('CevitxeSignal-dev');
    expect(stageStack('prod').stack.stackName).toBe('CevitxeSignal-prod');
  });

  it('rejects an unknown stage, listing the known ones', () => {
    expect(() => parseStage('staging')).toThrow(
      /Unknown stage "staging"\. Known stages: dev, prod/,
    );
    expect(() => parseStage('toString')).toThrow(/Unknown stage/);
    expect(() => parseStage(undefined)).toThrow(/Unknown stage/);
  });

  it('deletes the dev table and log groups with the stack, but retains prod’s', () => {
    for (const [template, policy] of [
      [dev, 'Delete'],
      [prod, 'Retain'],
    ] as const) {
      const kept = [
        ...Object.values(template.findResources('AWS::DynamoDB::GlobalTable')),
        ...Object.values(template.findResources('AWS::Logs::LogGroup')),
      ];
      // The table, four function log groups, the brake's and the stage's access log.
      expect(kept).toHaveLength(7);
      for (const resource of kept) {
        expect(resource).toMatchObject({ DeletionPolicy: policy, UpdateReplacePolicy: policy });
      }
    }
  });

  it('throttles prod higher than dev, each from its config', () => {
    for (const [template, config] of [
      [dev, STAGES.dev],
      [prod, STAGES.prod],
    ] as const) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: {
          ThrottlingRateLimit: config.throttle.rateLimit,
          ThrottlingBurstLimit: config.throttle.burstLimit,
        },
      });
    }
    expect(STAGES.prod.throttle.rateLimit).toBeGreaterThan(STAGES.dev.throttle.rateLimit);
  });

  it('keeps prod logs for three months and dev logs for a week', () => {
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    prod.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  it('protects the prod table from deletion, as a per-stage setting', () => {
    // A TableV2 (a global table) holds the setting per replica: here, the one in the stack's region.
    const protection = (enabled: boolean) => ({
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: enabled })],
    });
    expect(STAGES.prod.deletionProtection).toBe(true);
    expect(STAGES.dev.deletionProtection).toBe(false);
    prod.hasResourceProperties('AWS::DynamoDB::GlobalTable', protection(true));
    dev.hasResourceProperties('AWS::DynamoDB::GlobalTable', protection(false));
    const { template: custom } = customStack({ server: { deletionProtection: true } });
    custom.hasResourceProperties('AWS::DynamoDB::GlobalTable', protection(true));
  });

  it('turns on point-in-time recovery in prod only', () => {
    const pitr = (enabled: boolean) => ({
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: enabled },
        }),
      ],
    });
    dev.hasResourceProperties('AWS::DynamoDB::GlobalTable', pitr(false));
    prod.hasResourceProperties('AWS::DynamoDB::GlobalTable', pitr(true));
  });

  it('logs at debug level in dev and info in prod, with more memory in prod', () => {
    // The server's functions; the brake (signal-brake.test.ts) has its own memory and no LOG_LEVEL.
    for (const [stage, memory, level] of [
      ['dev', 256, 'debug'],
      ['prod', 512, 'info'],
    ] as const) {
      const { stack: staged, template: its } = stageStack(stage);
      for (const fn of Object.values(functionsOf(staged.server))) {
        expect(resourcesOf(its)[logicalIdOf(fn)]!.Properties.MemorySize).toBe(memory);
        expect(environmentOf(fn, its)).toMatchObject({ LOG_LEVEL: level });
      }
    }
  });

  it.each(['dev', 'prod'] as const)(
    'keeps both $connect checks off in %s, so the original client connects',
    (stage) => {
      expect(STAGES[stage].allowedOrigins).toEqual([]);
      expect(STAGES[stage].connectTokenParameter).toBeUndefined();
      const { stack, template } = stageStack(stage);
      const env = environmentOf(stack.server.connectFunction, template);
      expect(env).not.toHaveProperty('ALLOWED_ORIGINS');
      expect(env).not.toHaveProperty('CONNECT_TOKEN');
      expect(Object.keys(template.findParameters('*'))).toEqual(['BootstrapVersion']);
    },
  );

  it('names the API Gateway stage after the stage', () => {
    prod.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'prod' });
    prod.hasOutput('WebSocketUrl', {
      Value: { 'Fn::Join': ['', Match.arrayWith(['/prod'])] },
    });
  });

  it('is on in both stages, and exactly one stage (prod) sets the account’s role', () => {
    for (const stage of ['dev', 'prod'] as const) {
      expect(STAGES[stage].accessLogging).toBe(true);
    }
    const setters = (['dev', 'prod'] as const).filter((s) => STAGES[s].apiGatewayCloudWatchRole);
    expect(setters).toEqual(['prod']);
    stageStack('prod').template.resourceCountIs('AWS::ApiGateway::Account', 1);
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(server.apiGatewayCloudWatchRole).toBeUndefined();
  });
});

describe('deploying a stage', () => {
  it('can pin a stage’s account and region and still synthesize offline', () => {
    const env = { account: '123456789012', region: 'eu-west-1' };
    const app = appWithoutBundling();
    const props = { ...signalStackProps('prod'), env };
    const pinned = new SignalStack(app, props.stackName, props);
    const assembly = app.synth();
    const artifact = assembly.getStackByName(pinned.stackName);
    expect(artifact.environment).toMatchObject({ account: env.account, region: env.region });
    // No lookup was asked for: nothing is missing from the assembly's context.
    expect(assembly.manifest.missing ?? []).toEqual([]);
    expect(pinned.region).toBe('eu-west-1');
  });

  it('passes a stage’s pinned env from bin/config.ts to its stack, none by default', () => {
    for (const stage of ['dev', 'prod'] as const) {
      expect(STAGES[stage].env).toBeUndefined();
      expect(signalStackProps(stage)).not.toHaveProperty('env');
    }
  });

  it('sets every feature flag aws-cdk-lib recommends, at its recommended value', () => {
    for (const [flag, value] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) {
      expect(CDK_JSON_CONTEXT[flag], flag).toEqual(value);
    }
    expect(stack.node.tryGetContext('@aws-cdk/core:newStyleStackSynthesis')).toBeUndefined();
    expect(FeatureFlags.of(stack).isEnabled('@aws-cdk/aws-iam:minimizePolicies')).toBe(true);
  });
});

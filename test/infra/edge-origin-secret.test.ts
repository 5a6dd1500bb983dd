// The edge's secret as a stage deploys it: CloudFront's header and the connect function's
// environment both hold the same dynamic reference, the template holds no secret, and a stage that
// opts out has neither the secret nor the check.
import { describe, expect, it } from 'vitest';
import { STAGES, type StageName } from '../../bin/config.js';
import {
  customStack,
  distributionConfig,
  environmentOf,
  functionsOf,
  onlyResource,
  stageStack,
  type Json,
} from '../support/stacks.js';

const stages = Object.keys(STAGES) as StageName[];

/** The dynamic reference to the template's one secret, as CloudFormation reads it. */
const reference = (secretId: string) => ({
  'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']],
});

describe.each(stages)('the %s stage', (stage) => {
  const { stack, template } = stageStack(stage);

  it('requires the edge secret', () => {
    expect(STAGES[stage].edge).toMatchObject({ enabled: true, requireEdgeSecret: true });
  });

  it('gives CloudFront and only the connect function the same dynamic reference', () => {
    const secretId = onlyResource(template, 'AWS::SecretsManager::Secret').id;
    const origin = (distributionConfig(template).Origins as Json[])[0]!;
    expect(origin.OriginCustomHeaders).toEqual([
      { HeaderName: 'X-Origin-Verify', HeaderValue: reference(secretId) },
    ]);
    for (const [name, fn] of Object.entries(functionsOf(stack.server))) {
      const env = environmentOf(fn, template);
      if (name === 'connect') expect(env.EDGE_SECRET).toEqual(reference(secretId));
      else expect(env).not.toHaveProperty('EDGE_SECRET');
    }
  });

  it('holds no secret value: no SecretString, no parameter, no function granted to read it', () => {
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/"SecretString"/);
    expect(json).not.toContain('secretsmanager:GetSecretValue');
    expect(Object.keys(template.findParameters('*'))).toEqual(['BootstrapVersion']);
  });
});

describe('a stage that opts out of the edge secret', () => {
  const { stack, template } = customStack({ edge: { enabled: true, requireEdgeSecret: false } });

  it('has no secret, no header and no check at $connect', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect((distributionConfig(template).Origins as Json[])[0]).not.toHaveProperty(
      'OriginCustomHeaders',
    );
    expect(environmentOf(stack.server.connectFunction, template)).not.toHaveProperty('EDGE_SECRET');
    expect(stack.edge?.originSecret).toBeUndefined();
  });

  it('is the only way to skip it: the edge requires its secret unless told not to', () => {
    const { template } = customStack({ edge: { enabled: true } });
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
  });

  it('has nothing to prove without an edge, and refuses edge settings then', () => {
    const { template } = customStack({ edge: { enabled: false } });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    for (const edge of [
      { enabled: false, requireEdgeSecret: true },
      { enabled: false, webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/a/b' },
    ]) {
      expect(() => customStack({ edge: edge as never })).toThrow(/needs edge\.enabled: true/);
    }
  });
});

// The optional WAF web ACL of a stage's edge: its own stack in us-east-1, one rate-based rule per
// viewer IP on handshakes, off in every stage until configured.
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STAGES, webAclStackProps } from '../../bin/config.js';
import { EdgeWebAclStack, webAclArnProblem } from '../../lib/edge-web-acl.js';
import { appWithoutBundling, onlyResource, WEB_ACL_ARN, type Json } from '../support/stacks.js';

const US_EAST_1 = { region: 'us-east-1' };

function webAclStack(props: ConstructorParameters<typeof EdgeWebAclStack>[2] = { env: US_EAST_1 }) {
  const stack = new EdgeWebAclStack(appWithoutBundling(), 'Waf', props);
  return { stack, template: Template.fromStack(stack) };
}

describe('EdgeWebAclStack', () => {
  const { stack, template } = webAclStack();
  const acl = onlyResource(template, 'AWS::WAFv2::WebACL');

  it('makes one web ACL of scope CLOUDFRONT that allows what no rule blocks', () => {
    expect(acl.properties).toMatchObject({ Scope: 'CLOUDFRONT', DefaultAction: { Allow: {} } });
    expect(acl.properties.Rules as Json[]).toHaveLength(1);
  });

  it('limits handshakes per viewer IP, 300 per 5 minutes by default, answering 429 past it', () => {
    const [rule] = acl.properties.Rules as Json[];
    expect(rule).toMatchObject({
      Name: 'HandshakesPerViewerIp',
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
      Statement: {
        RateBasedStatement: {
          AggregateKeyType: 'IP',
          Limit: 300,
          EvaluationWindowSec: 300,
          ScopeDownStatement: {
            SizeConstraintStatement: {
              FieldToMatch: { SingleHeader: { Name: 'sec-websocket-key' } },
              ComparisonOperator: 'GT',
              Size: 0,
            },
          },
        },
      },
      VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
    });
  });

  it('outputs the ARN a stage’s edge.webAclArn takes', () => {
    template.hasOutput('WebAclArn', { Value: { 'Fn::GetAtt': [acl.id, 'Arn'] } });
    expect(stack.resolve(stack.webAclArn)).toEqual({ 'Fn::GetAtt': [acl.id, 'Arn'] });
  });

  it('takes a limit and window of its own', () => {
    const { template } = webAclStack({
      env: US_EAST_1,
      handshakesPerWindow: 20,
      windowSeconds: 60,
    });
    const [rule] = onlyResource(template, 'AWS::WAFv2::WebACL').properties.Rules as Json[];
    expect(rule).toMatchObject({
      Statement: { RateBasedStatement: { Limit: 20, EvaluationWindowSec: 60 } },
    });
  });

  it.each([
    [
      'outside us-east-1',
      { env: { region: 'eu-west-1' } },
      /must be in us-east-1.*it is eu-west-1/,
    ],
    ['without a pinned region', {}, /must be in us-east-1.*it is not pinned/],
    ['below WAF’s lowest limit', { env: US_EAST_1, handshakesPerWindow: 9 }, /10 or more, not 9/],
    ['with a window WAF lacks', { env: US_EAST_1, windowSeconds: 30 as never }, /not 30/],
  ])('refuses a web ACL %s', (_what, props, message) => {
    expect(() => webAclStack(props)).toThrow(message);
  });
});

describe('the stages’ web ACLs', () => {
  it('are off by default: no web ACL stack, no web ACL on the edge', () => {
    for (const stage of ['dev', 'prod'] as const) {
      expect(STAGES[stage].edgeWebAcl).toBeUndefined();
      expect(webAclStackProps(stage)).toBeUndefined();
      expect(STAGES[stage].edge).not.toHaveProperty('webAclArn');
    }
  });

  it('make a stack of their own in us-east-1, in the stage’s pinned account', () => {
    const env = { account: '123456789012', region: 'eu-west-1' };
    const props = webAclStackProps('prod', {
      ...STAGES.prod,
      env,
      edgeWebAcl: { handshakesPerWindow: 100, windowSeconds: 120 },
    })!;
    expect(props).toMatchObject({
      stackName: 'CevitxeSignal-prod-waf',
      env: { account: env.account, region: 'us-east-1' },
      handshakesPerWindow: 100,
      windowSeconds: 120,
    });
    const stack = new EdgeWebAclStack(appWithoutBundling(), props.stackName, props);
    expect(stack.region).toBe('us-east-1');
    onlyResource(Template.fromStack(stack), 'AWS::WAFv2::WebACL');
  });
});

describe('webAclArnProblem', () => {
  it('accepts a CLOUDFRONT web ACL ARN, and tokens', () => {
    expect(webAclArnProblem(WEB_ACL_ARN)).toBeUndefined();
    const { stack } = webAclStack();
    expect(webAclArnProblem(stack.webAclArn)).toBeUndefined();
  });
});

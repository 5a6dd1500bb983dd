// The SignalStack construct: its outputs, and the edge front door as it wires it in front of the
// server (per stage, off by switch, with a custom domain).
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { signalStackProps, STAGES, type StageName } from '../../bin/config.js';
import { edgeFunctionCode } from '../../edge/source.js';
import { SignalStack, type SignalStackProps } from '../../lib/signal-stack.js';
import {
  appWithoutBundling,
  CERTIFICATE_ARN,
  customStack,
  distributionConfig,
  environmentOf,
  functionsOf,
  logicalIdOf,
  stageStack,
  type Json,
} from '../support/stacks.js';

const DOMAIN = { domainName: 'signal.example.com', certificateArn: CERTIFICATE_ARN };
const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' };

/** The template of a SignalStack named `name`, built as bin/app.ts builds it. */
function customStackNamed(name: string, props: SignalStackProps): Template {
  return Template.fromStack(new SignalStack(appWithoutBundling(), name, props));
}

describe('the outputs', () => {
  const { stack, template } = stageStack('dev');
  const server = stack.server;
  const resolved = (value: unknown): unknown => stack.resolve(value);

  it('give the stage’s wss:// URL', () => {
    template.hasOutput('WebSocketUrl', { Value: resolved(server.stage.url) });
    expect(JSON.stringify(resolved(server.webSocketUrl))).toContain('"wss://"');
  });

  it('give the stage’s https:// management (callback) URL', () => {
    template.hasOutput('ManagementUrl', { Value: resolved(server.stage.callbackUrl) });
    expect(JSON.stringify(resolved(server.callbackUrl))).toContain('"https://"');
  });

  it('are the only outputs beside the edge’s two URLs', () => {
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual([
      'BrakeFunctionName',
      'EdgeHttpsUrl',
      'EdgeWebSocketUrl',
      'ManagementUrl',
      'WebSocketUrl',
    ]);
  });
});

describe.each(Object.keys(STAGES) as StageName[])('the %s stage', (stage) => {
  const { stack, template } = stageStack(stage);
  const edge = stack.edge!;

  it('has the edge on by default, requiring its secret', () => {
    expect(STAGES[stage].edge).toEqual({ enabled: true, requireEdgeSecret: true });
    expect(signalStackProps(stage).edge).toEqual({ enabled: true, requireEdgeSecret: true });
    expect(signalStackProps(stage).server).not.toHaveProperty('edge');
    expect(signalStackProps(stage).server).not.toHaveProperty('edgeWebAcl');
    template.resourceCountIs('AWS::CloudFront::Distribution', 1);
    template.resourceCountIs('AWS::CloudFront::Function', 1);
  });

  it('puts the stage’s execute-api host behind the edge, rewriting to its stage path', () => {
    const origins = distributionConfig(template).Origins as Json[];
    expect(origins).toHaveLength(1);
    expect(origins[0]!.DomainName).toEqual({
      'Fn::Join': [
        '',
        [
          { Ref: logicalIdOf(stack.server.webSocketApi) },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
        ],
      ],
    });
    template.hasResourceProperties('AWS::CloudFront::Function', {
      FunctionCode: edgeFunctionCode(stage),
    });
  });

  it('names its account-wide origin request policy with the stage and the region', () => {
    const [policy] = Object.values(
      template.findResources('AWS::CloudFront::OriginRequestPolicy'),
    ) as Array<{ Properties: { OriginRequestPolicyConfig: Json } }>;
    expect(policy!.Properties.OriginRequestPolicyConfig.Name).toEqual({
      'Fn::Join': ['', [`CevitxeSignal-${stage}-`, { Ref: 'AWS::Region' }, '-Edge-websocket']],
    });
  });

  it('names its function, also account-wide, with the region and the stage', () => {
    const [fn] = Object.values(template.findResources('AWS::CloudFront::Function')) as Array<{
      Properties: { Name: { 'Fn::Join': [string, unknown[]] } };
    }>;
    const [first, rest] = fn!.Properties.Name['Fn::Join'][1];
    expect(first).toEqual({ Ref: 'AWS::Region' });
    expect(rest).toMatch(new RegExp(`^CevitxeSignal${stage}Edge`));
  });

  it('names the policy after a pinned region too, so two regions of one account never clash', () => {
    const names = ['eu-west-1', 'us-east-1'].map((region) => {
      const props = { ...signalStackProps(stage), env: { account: '123456789012', region } };
      const pinned = customStackNamed(props.stackName, props);
      const [policy] = Object.values(
        pinned.findResources('AWS::CloudFront::OriginRequestPolicy'),
      ) as Array<{ Properties: { OriginRequestPolicyConfig: Json } }>;
      return policy!.Properties.OriginRequestPolicyConfig.Name;
    });
    expect(names).toEqual([
      `CevitxeSignal-${stage}-eu-west-1-Edge-websocket`,
      `CevitxeSignal-${stage}-us-east-1-Edge-websocket`,
    ]);
  });

  it('forwards the viewer’s address (CloudFront-Viewer-Address) for $connect to log', () => {
    const [policy] = Object.values(
      template.findResources('AWS::CloudFront::OriginRequestPolicy'),
    ) as Array<{ Properties: { OriginRequestPolicyConfig: Json } }>;
    const headers = policy!.Properties.OriginRequestPolicyConfig.HeadersConfig as Json;
    expect(headers.Headers).toContain('CloudFront-Viewer-Address');
  });

  it('outputs the edge’s wss:// and https:// URLs beside the stage URL', () => {
    const domain = { 'Fn::GetAtt': [logicalIdOf(edge.distribution), 'DomainName'] };
    template.hasOutput('EdgeWebSocketUrl', { Value: { 'Fn::Join': ['', ['wss://', domain]] } });
    template.hasOutput('EdgeHttpsUrl', { Value: { 'Fn::Join': ['', ['https://', domain]] } });
    template.hasOutput('WebSocketUrl', {
      Value: stack.resolve(stack.server.webSocketUrl) as unknown,
    });
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual([
      'BrakeFunctionName',
      'EdgeHttpsUrl',
      'EdgeWebSocketUrl',
      'ManagementUrl',
      'WebSocketUrl',
    ]);
  });

  it('keeps the management URL on execute-api: it is never called through CloudFront', () => {
    const management = stack.resolve(stack.server.callbackUrl) as unknown;
    template.hasOutput('ManagementUrl', { Value: management });
    expect(JSON.stringify(management)).toContain('.execute-api.');
    expect(JSON.stringify(management)).not.toContain(logicalIdOf(edge.distribution));
    // The server's functions; the brake never calls the management API.
    for (const fn of Object.values(functionsOf(stack.server))) {
      expect(environmentOf(fn, template)).toMatchObject({ MANAGEMENT_ENDPOINT: management });
    }
  });

  it('serves no custom domain and writes no DNS records', () => {
    expect(distributionConfig(template).Aliases).toBeUndefined();
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
  });
});

describe('an edge turned off', () => {
  const { stack, template } = customStack({
    server: { stageName: 'dev' },
    edge: { enabled: false },
  });

  it('creates no distribution, function, policy or DNS record', () => {
    expect(stack.edge).toBeUndefined();
    for (const type of [
      'AWS::CloudFront::Distribution',
      'AWS::CloudFront::Function',
      'AWS::CloudFront::OriginRequestPolicy',
      'AWS::Route53::RecordSet',
    ]) {
      template.resourceCountIs(type, 0);
    }
  });

  it('outputs only the stage and management URLs', () => {
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual([
      'BrakeFunctionName',
      'ManagementUrl',
      'WebSocketUrl',
    ]);
  });

  it('is refused together with a custom domain', () => {
    const conflicting = {
      enabled: false,
      customDomain: DOMAIN,
    } as unknown as SignalStackProps['edge'];
    expect(() => customStack({ edge: conflicting })).toThrow(
      /edge\.customDomain needs edge\.enabled: true/,
    );
  });
});

describe('an edge without settings', () => {
  it('is on, as when the stack is given no edge props at all', () => {
    const { stack, template } = customStack();
    expect(stack.edge).toBeDefined();
    template.resourceCountIs('AWS::CloudFront::Distribution', 1);
  });
});

describe('an edge in front of a stage with an Origin allowlist', () => {
  const headersOf = (template: Template) => {
    const [policy] = Object.values(
      template.findResources('AWS::CloudFront::OriginRequestPolicy'),
    ) as Array<{ Properties: { OriginRequestPolicyConfig: Json } }>;
    const config = policy!.Properties.OriginRequestPolicyConfig;
    return (config.HeadersConfig as { Headers: string[] }).Headers;
  };

  it('forwards the viewer’s Origin header, so that $connect can check it', () => {
    const { template } = customStack({
      server: { allowedOrigins: ['https://app.example.com'] },
    });
    expect(headersOf(template)).toContain('Origin');
    expect(headersOf(template)).not.toContain('Host');
  });

  it('forwards no Origin header when the stage has no allowlist', () => {
    const { template } = customStack({});
    expect(headersOf(template)).not.toContain('Origin');
  });
});

describe('an edge with a custom domain', () => {
  it('serves the name with the us-east-1 certificate at TLS 1.2 and outputs its URLs', () => {
    const { stack, template } = customStack({ edge: { enabled: true, customDomain: DOMAIN } });
    expect(distributionConfig(template)).toMatchObject({
      Aliases: ['signal.example.com'],
      ViewerCertificate: {
        AcmCertificateArn: CERTIFICATE_ARN,
        MinimumProtocolVersion: 'TLSv1.2_2021',
        SslSupportMethod: 'sni-only',
      },
    });
    template.hasOutput('EdgeWebSocketUrl', { Value: 'wss://signal.example.com' });
    template.hasOutput('EdgeHttpsUrl', { Value: 'https://signal.example.com' });
    expect(stack.edge?.webSocketUrl).toBe('wss://signal.example.com');
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
  });

  it('aliases the name in the given hosted zone (A and AAAA), without a lookup', () => {
    const { stack, template } = customStack({
      edge: { enabled: true, customDomain: { ...DOMAIN, hostedZone: ZONE } },
    });
    const target = { 'Fn::GetAtt': [logicalIdOf(stack.edge!.distribution), 'DomainName'] };
    for (const type of ['A', 'AAAA']) {
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        Type: type,
        Name: 'signal.example.com.',
        HostedZoneId: ZONE.hostedZoneId,
        AliasTarget: { DNSName: target, HostedZoneId: Match.anyValue() },
      });
    }
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
    template.resourceCountIs('AWS::Route53::HostedZone', 0);
    // No context lookups: an environment-agnostic stack asks nothing of an account.
    expect(stack.node.metadata.filter((entry) => entry.type === 'aws:cdk:missing')).toEqual([]);
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  it.each<[string, SignalStackProps['edge'], RegExp]>([
    [
      'a certificate outside us-east-1',
      {
        enabled: true,
        customDomain: {
          ...DOMAIN,
          certificateArn: CERTIFICATE_ARN.replace('us-east-1', 'eu-west-1'),
        },
      },
      /us-east-1/,
    ],
    [
      'a name outside the hosted zone',
      {
        enabled: true,
        customDomain: { ...DOMAIN, domainName: 'signal.example.org', hostedZone: ZONE },
      },
      /not in the hosted zone example\.com/,
    ],
    [
      'a hosted zone ID that is not one',
      {
        enabled: true,
        customDomain: { ...DOMAIN, hostedZone: { ...ZONE, hostedZoneId: '/hostedzone/Z0123' } },
      },
      /hostedZoneId must be a Route 53 zone ID/,
    ],
  ])('refuses %s', (_what, edge, message) => {
    expect(() => customStack({ edge })).toThrow(message);
  });
});

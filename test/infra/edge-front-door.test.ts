// The EdgeFrontDoor construct on a small stack: a WebSocket API, its stage, and the edge.
import { Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { SecurityPolicyProtocol } from 'aws-cdk-lib/aws-cloudfront';
import { HostedZone } from 'aws-cdk-lib/aws-route53';
import { describe, expect, it } from 'vitest';
import { EDGE_CODE_BUDGET_BYTES, edgeFunctionCode } from '../../edge/source.js';
import { EdgeFrontDoor, type EdgeFrontDoorProps } from '../../lib/edge-front-door.js';
import {
  appLikeCli,
  CERTIFICATE_ARN,
  distributionConfig,
  onlyResource,
  WEB_ACL_ARN,
  type Json,
} from '../support/stacks.js';

const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const CLOUDFRONT_ZONE_ID = 'Z2FDTNDATAQYW2';

/** A stack with a WebSocket API, its `dev` stage and an EdgeFrontDoor built by `props`. */
function edgeStack(props: (stage: WebSocketStage, stack: Stack) => EdgeFrontDoorProps = useStage) {
  const stack = new Stack(appLikeCli(), 'Edge');
  const api = new WebSocketApi(stack, 'Api');
  const stage = new WebSocketStage(stack, 'Stage', {
    webSocketApi: api,
    stageName: 'dev',
    autoDeploy: true,
  });
  const edge = new EdgeFrontDoor(stack, 'Edge', props(stage, stack));
  return { stack, api, stage, edge, template: Template.fromStack(stack) };
}

function useStage(stage: WebSocketStage): EdgeFrontDoorProps {
  return { stage };
}

function defaultBehavior(template: Template): Json {
  return distributionConfig(template).DefaultCacheBehavior as Json;
}

describe('EdgeFrontDoor in front of a WebSocketStage', () => {
  const { stack, api, edge, template } = edgeStack();

  it('creates one distribution with the rewrite function on viewer-request', () => {
    const fn = onlyResource(template, 'AWS::CloudFront::Function');
    expect(defaultBehavior(template).FunctionAssociations).toEqual([
      { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fn.id, 'FunctionARN'] } },
    ]);
  });

  it('runs the function on cloudfront-js-2.0, published, minified with the stage substituted', () => {
    const fn = onlyResource(template, 'AWS::CloudFront::Function').properties;
    expect(fn.FunctionConfig).toMatchObject({ Runtime: 'cloudfront-js-2.0' });
    expect(fn.AutoPublish).toBe(true);
    expect(fn.FunctionCode).toBe(edgeFunctionCode('dev'));
    expect(fn.FunctionCode).toContain('var STAGE_PATH="/dev"');
    expect(fn.FunctionCode).not.toContain('__STAGE__');
    expect(Buffer.byteLength(fn.FunctionCode as string)).toBeLessThan(EDGE_CODE_BUDGET_BYTES);
  });

  it('names the origin request policy after the stack and region, since the name is account-wide', () => {
    const policy = onlyResource(template, 'AWS::CloudFront::OriginRequestPolicy');
    const config = policy.properties.OriginRequestPolicyConfig as Json;
    expect(config.Name).toEqual({
      'Fn::Join': ['', ['Edge-', { Ref: 'AWS::Region' }, '-Edge-websocket']],
    });
  });

  it("uses the stage's execute-api host as an HTTPS-only origin, without an origin path", () => {
    const origins = distributionConfig(template).Origins as Json[];
    expect(origins).toHaveLength(1);
    const origin = origins[0] as Json;
    expect(origin.DomainName).toEqual({
      'Fn::Join': [
        '',
        [
          { Ref: stack.getLogicalId(api.node.defaultChild as never) },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
        ],
      ],
    });
    expect(origin.OriginPath).toBeUndefined();
    expect(origin.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
  });

  it('forwards all query strings, the four Sec-WebSocket headers and the viewer address, never Host', () => {
    const policy = onlyResource(template, 'AWS::CloudFront::OriginRequestPolicy');
    const config = policy.properties.OriginRequestPolicyConfig as Json;
    expect(config.QueryStringsConfig).toEqual({ QueryStringBehavior: 'all' });
    expect(config.CookiesConfig).toEqual({ CookieBehavior: 'none' });
    const headers = config.HeadersConfig as { HeaderBehavior: string; Headers: string[] };
    expect(headers.HeaderBehavior).toBe('whitelist');
    expect([...headers.Headers].sort()).toEqual(
      [
        'CloudFront-Viewer-Address',
        'Sec-WebSocket-Extensions',
        'Sec-WebSocket-Key',
        'Sec-WebSocket-Protocol',
        'Sec-WebSocket-Version',
      ].sort(),
    );
    expect(headers.Headers.map((name) => name.toLowerCase())).not.toContain('host');
    expect(defaultBehavior(template).OriginRequestPolicyId).toEqual({ Ref: policy.id });
  });

  it('disables caching with the managed CachingDisabled policy', () => {
    expect(defaultBehavior(template).CachePolicyId).toBe(CACHING_DISABLED);
  });

  it('takes HTTPS only from viewers and lets every method reach the function', () => {
    const behavior = defaultBehavior(template);
    expect(behavior.ViewerProtocolPolicy).toBe('https-only');
    expect(behavior.AllowedMethods).toEqual(expect.arrayContaining(['GET', 'HEAD', 'POST']));
  });

  it('has no custom domain and exposes the distribution’s own URLs', () => {
    const config = distributionConfig(template);
    expect(config.Aliases).toBeUndefined();
    expect(config.ViewerCertificate).toBeUndefined();
    const domain = {
      'Fn::GetAtt': [onlyResource(template, 'AWS::CloudFront::Distribution').id, 'DomainName'],
    };
    expect(stack.resolve(edge.webSocketUrl)).toEqual({ 'Fn::Join': ['', ['wss://', domain]] });
    expect(stack.resolve(edge.httpsUrl)).toEqual({ 'Fn::Join': ['', ['https://', domain]] });
    expect(edge.function).toBeDefined();
    expect(edge.distribution).toBeDefined();
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
  });
});

describe('EdgeFrontDoor from an origin domain and a stage name', () => {
  it('uses them for the origin and the rewrite target', () => {
    const { template } = edgeStack(() => ({
      originDomainName: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      stageName: 'prod',
    }));
    const origin = (distributionConfig(template).Origins as Json[])[0] as Json;
    expect(origin.DomainName).toBe('abc123defg.execute-api.eu-west-1.amazonaws.com');
    const fn = onlyResource(template, 'AWS::CloudFront::Function').properties;
    expect(fn.FunctionCode).toBe(edgeFunctionCode('prod'));
  });
});

describe('EdgeFrontDoor with a custom domain', () => {
  it('serves the domain with the us-east-1 certificate and TLS 1.2 at least', () => {
    const { edge, template } = edgeStack((stage) => ({
      stage,
      customDomain: { domainName: 'signal.example.com', certificateArn: CERTIFICATE_ARN },
    }));
    const config = distributionConfig(template);
    expect(config.Aliases).toEqual(['signal.example.com']);
    expect(config.ViewerCertificate).toEqual({
      AcmCertificateArn: CERTIFICATE_ARN,
      MinimumProtocolVersion: 'TLSv1.2_2021',
      SslSupportMethod: 'sni-only',
    });
    expect(edge.domainName).toBe('signal.example.com');
    expect(edge.webSocketUrl).toBe('wss://signal.example.com');
    expect(edge.httpsUrl).toBe('https://signal.example.com');
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
  });

  it('takes a stricter minimum TLS version', () => {
    const { template } = edgeStack((stage) => ({
      stage,
      customDomain: { domainName: 'signal.example.com', certificateArn: CERTIFICATE_ARN },
      minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2025,
    }));
    expect(distributionConfig(template).ViewerCertificate).toMatchObject({
      MinimumProtocolVersion: 'TLSv1.2_2025',
    });
  });

  it('adds A and AAAA alias records when a hosted zone is given', () => {
    const { template } = edgeStack((stage, stack) => ({
      stage,
      customDomain: {
        domainName: 'signal.example.com',
        certificateArn: CERTIFICATE_ARN,
        hostedZone: HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
          hostedZoneId: 'Z0123456789ABCDEFGHIJ',
          zoneName: 'example.com',
        }),
      },
    }));
    const distribution = onlyResource(template, 'AWS::CloudFront::Distribution').id;
    for (const type of ['A', 'AAAA']) {
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        Type: type,
        Name: 'signal.example.com.',
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [distribution, 'DomainName'] },
          HostedZoneId: Match.anyValue(),
        },
      });
    }
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
    // The alias target's zone is CloudFront's, looked up per partition.
    const records = Object.values(template.findResources('AWS::Route53::RecordSet')) as {
      Properties: { AliasTarget: { HostedZoneId: { 'Fn::FindInMap': [string, unknown, string] } } };
    }[];
    const mappings = template.toJSON() as { Mappings: Record<string, Record<string, Json>> };
    for (const record of records) {
      const [map, , key] = record.Properties.AliasTarget.HostedZoneId['Fn::FindInMap'];
      expect(mappings.Mappings[map]?.aws?.[key]).toBe(CLOUDFRONT_ZONE_ID);
    }
  });

  it('accepts a certificate ARN whose region is only known at deploy time', () => {
    expect(() =>
      edgeStack((stage, stack) => ({
        stage,
        customDomain: {
          domainName: 'signal.example.com',
          certificateArn: `arn:aws:acm:${stack.region}:123456789012:certificate/abc`,
        },
      })),
    ).not.toThrow();
  });
});

describe('EdgeFrontDoor with an origin secret', () => {
  const { template, edge } = edgeStack((stage) => ({ stage, originSecret: true }));
  const secretId = onlyResource(template, 'AWS::SecretsManager::Secret').id;

  it('sends the secret as X-Origin-Verify, from a dynamic reference to the secret it generates', () => {
    const origin = (distributionConfig(template).Origins as Json[])[0]!;
    expect(origin.OriginCustomHeaders).toEqual([
      {
        HeaderName: 'X-Origin-Verify',
        HeaderValue: {
          'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']],
        },
      },
    ]);
    expect(edge.originSecret?.headerName).toBe('X-Origin-Verify');
  });

  it('has Secrets Manager generate 64 letters and digits at deploy, so no value is in the template', () => {
    const secret = onlyResource(template, 'AWS::SecretsManager::Secret').properties;
    expect(secret.GenerateSecretString).toEqual({
      PasswordLength: 64,
      ExcludePunctuation: true,
      IncludeSpace: false,
    });
    expect(secret).not.toHaveProperty('SecretString');
    expect(JSON.stringify(template.toJSON())).not.toMatch(/"SecretString"/);
  });

  it('sends no custom header without one', () => {
    const { template } = edgeStack();
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect((distributionConfig(template).Origins as Json[])[0]).not.toHaveProperty(
      'OriginCustomHeaders',
    );
  });
});

describe('EdgeFrontDoor with a WAF web ACL', () => {
  it('attaches the web ACL by its ARN', () => {
    const { template } = edgeStack((stage) => ({ stage, webAclArn: WEB_ACL_ARN }));
    expect(distributionConfig(template).WebACLId).toBe(WEB_ACL_ARN);
  });

  it('attaches none by default', () => {
    expect(distributionConfig(edgeStack().template)).not.toHaveProperty('WebACLId');
  });

  it.each([
    ['a regional web ACL', WEB_ACL_ARN.replace(':global/', ':regional/')],
    ['one outside us-east-1', WEB_ACL_ARN.replace('us-east-1', 'eu-west-1')],
    ['a WAF Classic id', 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111'],
  ])('refuses %s', (_what, webAclArn) => {
    expect(() => edgeStack((stage) => ({ stage, webAclArn }))).toThrow(
      /EdgeFrontDoor: webAclArn must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT/,
    );
  });
});

describe('EdgeFrontDoor refuses conflicting or invalid props up front', () => {
  const cases: [string, (stage: WebSocketStage, stack: Stack) => EdgeFrontDoorProps, RegExp][] = [
    [
      'a stage and an origin domain',
      (stage) => ({ stage, originDomainName: 'x.execute-api.us-east-1.amazonaws.com' }),
      /either stage, or originDomainName and stageName, not both/,
    ],
    ['a stage and a stage name', (stage) => ({ stage, stageName: 'dev' }), /not both/],
    ['neither a stage nor an origin', () => ({}), /give stage, or both/],
    [
      'an origin domain without a stage name',
      () => ({ originDomainName: 'x.execute-api.us-east-1.amazonaws.com' }),
      /give stage, or both/,
    ],
    ['a stage name without an origin domain', () => ({ stageName: 'dev' }), /give stage, or both/],
    [
      'an origin given as a URL',
      () => ({
        originDomainName: 'https://x.execute-api.us-east-1.amazonaws.com',
        stageName: 'dev',
      }),
      /bare host name/,
    ],
    [
      'an invalid stage name',
      () => ({ originDomainName: 'x.example.com', stageName: 'a/b' }),
      /invalid stage name/,
    ],
    [
      'a stage name known only at deploy time',
      () => ({
        originDomainName: 'x.example.com',
        stageName: Lazy.string({ produce: () => 'dev' }),
      }),
      /known at synth/,
    ],
    [
      'a certificate outside us-east-1',
      (stage) => ({
        stage,
        customDomain: {
          domainName: 'signal.example.com',
          certificateArn: CERTIFICATE_ARN.replace('us-east-1', 'eu-west-1'),
        },
      }),
      /only uses ACM certificates from us-east-1; .* is in eu-west-1/,
    ],
    [
      'a certificate ARN of another service',
      (stage) => ({
        stage,
        customDomain: {
          domainName: 'signal.example.com',
          certificateArn: 'arn:aws:iam::123456789012:server-certificate/signal',
        },
      }),
      /must be an ACM certificate ARN/,
    ],
    [
      'a certificate that is not an ARN',
      (stage) => ({
        stage,
        customDomain: { domainName: 'signal.example.com', certificateArn: 'my-certificate' },
      }),
      /is not an ARN/,
    ],
    [
      'a domain name that is a URL',
      (stage) => ({
        stage,
        customDomain: { domainName: 'https://signal.example.com', certificateArn: CERTIFICATE_ARN },
      }),
      /must be a host name/,
    ],
    [
      'a domain outside the hosted zone',
      (stage, stack) => ({
        stage,
        customDomain: {
          domainName: 'signal.example.org',
          certificateArn: CERTIFICATE_ARN,
          hostedZone: HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
            hostedZoneId: 'Z0123456789ABCDEFGHIJ',
            zoneName: 'example.com',
          }),
        },
      }),
      /is not in the hosted zone example\.com/,
    ],
    [
      'a minimum TLS version without a custom domain',
      (stage) => ({ stage, minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021 }),
      /minimumProtocolVersion needs a customDomain/,
    ],
  ];

  it.each(cases)('refuses %s', (_what, props, message) => {
    expect(() => edgeStack(props)).toThrow(message);
  });
});

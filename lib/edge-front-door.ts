import { Stack, Token, Validations } from 'aws-cdk-lib';
import type { IWebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  Function as CloudFrontFunction,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  OriginProtocolPolicy,
  OriginRequestCookieBehavior,
  OriginRequestHeaderBehavior,
  OriginRequestPolicy,
  OriginRequestQueryStringBehavior,
  OriginSslPolicy,
  PriceClass,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { AaaaRecord, ARecord, RecordTarget, type IHostedZone } from 'aws-cdk-lib/aws-route53';
import { CloudFrontTarget } from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { EDGE_CODE_BUDGET_BYTES, edgeFunctionCode } from '../edge/source.js';
import { validateCustomDomain, type EdgeCustomDomain } from './edge-custom-domain.js';
import { EdgeOriginSecret } from './edge-origin-secret.js';
import { webAclArnProblem } from './edge-web-acl.js';
import { STAGE_NAME } from './props.js';

/**
 * The WebSocket handshake headers the stage needs from the viewer. `Host` is never among them:
 * execute-api answers 403 to a Host that is not its own, so CloudFront must send the origin's.
 */
export const FORWARDED_WEBSOCKET_HEADERS = [
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
] as const;

/**
 * The viewer's `ip:port` as CloudFront saw it. Behind CloudFront the stage's `sourceIp` is
 * CloudFront's own address, so `$connect` logs the viewer's from this header instead.
 */
export const VIEWER_ADDRESS_HEADER = 'CloudFront-Viewer-Address';

export type { EdgeCustomDomain } from './edge-custom-domain.js';

/**
 * Properties of an {@link EdgeFrontDoor}. Give either `stage`, or `originDomainName` together
 * with `stageName`; never both.
 */
export interface EdgeFrontDoorProps {
  /**
   * The API Gateway WebSocket stage behind the edge; its execute-api host is the origin and its
   * name the path requests are rewritten to.
   * @default - `originDomainName` and `stageName` say where the stage is
   */
  readonly stage?: IWebSocketStage;

  /**
   * The stage's host, `<apiId>.execute-api.<region>.amazonaws.com`, when `stage` is not given.
   * @default - the execute-api host of `stage`
   */
  readonly originDomainName?: string;

  /**
   * The stage name, when `stage` is not given: letters, digits, `-` and `_`, at most 128, and
   * known at synth (it is written into the function's code).
   * @default - the name of `stage`
   */
  readonly stageName?: string;

  /**
   * A custom domain name with its us-east-1 ACM certificate and, optionally, DNS records.
   * @default - only the distribution's own `*.cloudfront.net` name
   */
  readonly customDomain?: EdgeCustomDomain;

  /**
   * The minimum TLS version viewers must use with the custom domain. Without a custom domain
   * CloudFront serves its default `*.cloudfront.net` certificate, whose security policy
   * CloudFront fixes itself (TLSv1) and which cannot be raised: use a custom domain to enforce
   * TLS 1.2.
   * @default SecurityPolicyProtocol.TLS_V1_2_2021
   */
  readonly minimumProtocolVersion?: SecurityPolicyProtocol;

  /**
   * Which edge locations serve the distribution.
   * @default PriceClass.PRICE_CLASS_ALL
   */
  readonly priceClass?: PriceClass;

  /**
   * Whether the viewer's `Origin` header reaches the stage, for a stage whose `$connect` checks
   * an Origin allowlist: without it every browser handshake through the edge would be refused.
   * @default false
   */
  readonly forwardOriginHeader?: boolean;

  /**
   * Whether CloudFront proves itself to the stage: an {@link EdgeOriginSecret}, generated at
   * deploy, sent as the `X-Origin-Verify` custom origin header. The stage's `$connect` must then
   * require it (see {@link EdgeFrontDoor.originSecret}), or the header proves nothing.
   * @default false
   */
  readonly originSecret?: boolean;

  /**
   * The ARN of a WAFv2 web ACL of scope CLOUDFRONT (in us-east-1, e.g. an EdgeWebAclStack's),
   * given as a plain string.
   * @default - no web ACL
   */
  readonly webAclArn?: string;

  /**
   * A description of the distribution.
   * @default - 'cevitxe signal server edge for stage <stage name>'
   */
  readonly comment?: string;
}

// API Gateway stage names: letters, digits, hyphens and underscores, at most 128 characters.

/**
 * CloudFront in front of one API Gateway WebSocket stage, so that clients of the original
 * cevitxe-signal-server keep their URLs and only change the host name:
 * `wss://<edge>/introduction/:localId` and `wss://<edge>/connection/:localId/:remoteId/:key`.
 *
 * A CloudFront Function (edge/rewrite.js, runtime cloudfront-js-2.0, on viewer-request)
 * rewrites that path form into the query form at the stage path, passes the query form through,
 * answers `GET /` with the fish page and refuses everything else itself. The origin is the
 * stage's execute-api host over HTTPS only; the origin request policy forwards every query
 * string, the `Sec-WebSocket-*` handshake headers and the viewer's address
 * (`CloudFront-Viewer-Address`), never `Host`; nothing is cached; viewers must use HTTPS.
 *
 * The edge carries client traffic only. The management API (`@connections`, the stage's
 * callback URL) is never called through CloudFront: Lambdas post to the execute-api host
 * directly. CloudFront also closes a WebSocket after 10 minutes without bytes from the origin
 * to the client; that is not adjustable.
 */
export class EdgeFrontDoor extends Construct {
  /** The CloudFront distribution. */
  public readonly distribution: Distribution;
  /** The viewer-request function that rewrites the path form (edge/rewrite.js). */
  public readonly function: CloudFrontFunction;
  /**
   * The origin request policy: all query strings, the `Sec-WebSocket-*` headers and
   * `CloudFront-Viewer-Address`, no `Host`.
   */
  public readonly originRequestPolicy: OriginRequestPolicy;
  /** The host name viewers use: the custom domain, else the distribution's own. */
  public readonly domainName: string;
  /** `wss://<domainName>`, the URL a cevitxe-signal-client is given. */
  public readonly webSocketUrl: string;
  /** `https://<domainName>`, where the fish page answers. */
  public readonly httpsUrl: string;
  /** The secret CloudFront sends the stage, when `originSecret` is on. */
  public readonly originSecret?: EdgeOriginSecret;

  constructor(scope: Construct, id: string, props: EdgeFrontDoorProps) {
    super(scope, id);

    const { originDomainName, stageName } = resolveOrigin(props);
    const customDomain = props.customDomain;
    if (customDomain) validateCustomDomain(customDomain);
    const webAclProblem =
      props.webAclArn === undefined ? undefined : webAclArnProblem(props.webAclArn);
    if (webAclProblem) throw new Error(`EdgeFrontDoor: ${webAclProblem}`);
    if (props.minimumProtocolVersion !== undefined && !customDomain) {
      throw new Error(
        'EdgeFrontDoor: minimumProtocolVersion needs a customDomain; the default *.cloudfront.net certificate has a fixed security policy',
      );
    }

    this.function = this.createRewriteFunction(stageName);
    this.originRequestPolicy = this.createOriginRequestPolicy(id, props.forwardOriginHeader);
    if (props.originSecret) this.originSecret = new EdgeOriginSecret(this, 'OriginSecret');
    this.distribution = this.createDistribution(originDomainName, stageName, props);
    acknowledgeNagFindings(this.distribution, {
      hasCustomDomain: customDomain !== undefined,
      hasWebAcl: props.webAclArn !== undefined,
    });
    if (customDomain?.hostedZone) this.createAliasRecords(customDomain, customDomain.hostedZone);

    this.domainName = customDomain?.domainName ?? this.distribution.distributionDomainName;
    this.webSocketUrl = `wss://${this.domainName}`;
    this.httpsUrl = `https://${this.domainName}`;
  }

  /** The viewer-request function, minified at synth from the readable edge/rewrite.js. */
  private createRewriteFunction(stageName: string): CloudFrontFunction {
    // The same code the tests and the local gateway run.
    const code = edgeFunctionCode(stageName);
    const bytes = Buffer.byteLength(code, 'utf8');
    if (bytes >= EDGE_CODE_BUDGET_BYTES) {
      throw new Error(
        `EdgeFrontDoor: edge/rewrite.js minifies to ${bytes} bytes, over this project's ${EDGE_CODE_BUDGET_BYTES}-byte budget (CloudFront's limit is 10 KB)`,
      );
    }
    return new CloudFrontFunction(this, 'Rewrite', {
      code: FunctionCode.fromInline(code),
      runtime: FunctionRuntime.JS_2_0,
      comment: `Rewrites the cevitxe path form to the query form at /${stageName}`,
    });
  }

  /** What reaches the stage: every query string and the handshake headers, never `Host`. */
  private createOriginRequestPolicy(id: string, forwardOriginHeader = false): OriginRequestPolicy {
    const stack = Stack.of(this);
    return new OriginRequestPolicy(this, 'OriginRequestPolicy', {
      // Policy names are account-wide: the stack name and region keep one stage deployable in
      // several regions of one account.
      originRequestPolicyName: `${stack.stackName}-${stack.region}-${id}-websocket`,
      comment:
        'WebSocket handshake to API Gateway: all query strings, Sec-WebSocket-*, the viewer address, no Host',
      queryStringBehavior: OriginRequestQueryStringBehavior.all(),
      headerBehavior: OriginRequestHeaderBehavior.allowList(
        ...FORWARDED_WEBSOCKET_HEADERS,
        VIEWER_ADDRESS_HEADER,
        ...(forwardOriginHeader ? ['Origin'] : []),
      ),
      cookieBehavior: OriginRequestCookieBehavior.none(),
    });
  }

  /**
   * HTTPS only on both sides, nothing cached, the rewrite function on every request; the origin
   * secret's header on every origin request, when there is one.
   */
  private createDistribution(
    originDomainName: string,
    stageName: string,
    props: EdgeFrontDoorProps,
  ): Distribution {
    const { customDomain, webAclArn } = props;
    const secret = this.originSecret;
    return new Distribution(this, 'Distribution', {
      comment: props.comment ?? `cevitxe signal server edge for stage ${stageName}`,
      priceClass: props.priceClass ?? PriceClass.PRICE_CLASS_ALL,
      ...(webAclArn === undefined ? {} : { webAclId: webAclArn }),
      defaultBehavior: {
        origin: new HttpOrigin(originDomainName, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
          ...(secret ? { customHeaders: { [secret.headerName]: secret.headerValue } } : {}),
        }),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        // The function answers every method itself except GET (405 for the others).
        allowedMethods: AllowedMethods.ALLOW_ALL,
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: this.originRequestPolicy,
        compress: false,
        functionAssociations: [
          { function: this.function, eventType: FunctionEventType.VIEWER_REQUEST },
        ],
      },
      ...(customDomain
        ? {
            domainNames: [customDomain.domainName],
            certificate: Certificate.fromCertificateArn(
              this,
              'Certificate',
              customDomain.certificateArn,
            ),
            minimumProtocolVersion:
              props.minimumProtocolVersion ?? SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {}),
    });
  }

  /** A and AAAA alias records pointing the custom domain at the distribution. */
  private createAliasRecords(customDomain: EdgeCustomDomain, zone: IHostedZone): void {
    const target = RecordTarget.fromAlias(new CloudFrontTarget(this.distribution));
    const record = { zone, recordName: customDomain.domainName, target };
    new ARecord(this, 'AliasRecord', record);
    new AaaaRecord(this, 'AliasRecordIpv6', record);
  }
}

/**
 * The cdk-nag AwsSolutions findings this construct accepts, each with why it fits this product.
 * CFR2 only applies, and is only accepted, without a web ACL; CFR4 without a custom domain.
 */
function acknowledgeNagFindings(
  distribution: Distribution,
  { hasCustomDomain, hasWebAcl }: { hasCustomDomain: boolean; hasWebAcl: boolean },
): void {
  const validations = Validations.of(distribution);
  validations.acknowledge(
    {
      id: 'AwsSolutions-CFR1',
      reason:
        'A signal server for cevitxe users anywhere: no country is excluded by design. An operator who must restrict countries can add geo restrictions to the distribution.',
    },
    {
      id: 'AwsSolutions-CFR3',
      reason:
        "CloudFront standard logs record every request's path and query string, which carry the peer ids, the document key and the optional shared token, and this product keeps keys and tokens out of logs. Handshakes that reach the stage are in its access log (which never logs the query); refusals at the edge show in CloudFront's metrics.",
    },
  );
  if (!hasWebAcl) {
    validations.acknowledge({
      id: 'AwsSolutions-CFR2',
      reason:
        "WAF would only see the WebSocket handshake, never the frames after it. The edge function already refuses malformed paths, other methods and unknown paths itself, and the stage's throttling bounds the request rate; a web ACL ($5 a month, $1 a rule, $0.60 per million requests) is optional: webAclArn attaches one, e.g. an EdgeWebAclStack's.",
    });
  }
  if (!hasCustomDomain) {
    validations.acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        'Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose security policy CloudFront fixes at TLSv1 and which cannot be raised. With a custom domain this construct sets TLSv1.2_2021 and the finding no longer applies; the origin side is TLS 1.2 only either way.',
    });
  }
}

function resolveOrigin(props: EdgeFrontDoorProps): { originDomainName: string; stageName: string } {
  const { stage, originDomainName, stageName } = props;
  if (stage && (originDomainName !== undefined || stageName !== undefined)) {
    throw new Error(
      'EdgeFrontDoor: give either stage, or originDomainName and stageName, not both',
    );
  }
  if (!stage && (originDomainName === undefined || stageName === undefined)) {
    throw new Error('EdgeFrontDoor: give stage, or both originDomainName and stageName');
  }
  const name = stage ? stage.stageName : (stageName as string);
  if (Token.isUnresolved(name)) {
    throw new Error(
      'EdgeFrontDoor: the stage name must be known at synth; it is written into the function code',
    );
  }
  if (!STAGE_NAME.test(name)) {
    throw new Error(
      `EdgeFrontDoor: invalid stage name ${JSON.stringify(name)}: use 1 to 128 letters, digits, - or _`,
    );
  }
  if (stage) {
    // The host of the stage's own wss:// URL; the stage name goes into the path, not the origin.
    const stack = Stack.of(stage);
    return {
      originDomainName: `${stage.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`,
      stageName: name,
    };
  }
  const domain = originDomainName as string;
  if (!Token.isUnresolved(domain) && !/^[A-Za-z0-9.-]+$/.test(domain)) {
    throw new Error(
      `EdgeFrontDoor: originDomainName must be a bare host name, got ${JSON.stringify(domain)}`,
    );
  }
  return { originDomainName: domain, stageName: name };
}

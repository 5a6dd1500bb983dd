import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';

/** How far back a rate-based rule counts, in seconds: the four windows WAF offers. */
export type RateWindowSeconds = 60 | 120 | 300 | 600;

const RATE_WINDOWS: readonly number[] = [60, 120, 300, 600] satisfies RateWindowSeconds[];

/** WAF's lowest rate limit. */
export const MIN_RATE_LIMIT = 10;

/** The header every WebSocket handshake carries (RFC 6455) and nothing else needs. */
const HANDSHAKE_HEADER = 'sec-websocket-key';

/** Properties of an {@link EdgeWebAclStack}. */
export interface EdgeWebAclStackProps extends StackProps {
  /**
   * Handshakes one viewer IP address may start in `windowSeconds`; WAF answers the ones past it
   * with 429 until the address's rate falls below. At least 10 (WAF's lowest).
   * @default 300
   */
  readonly handshakesPerWindow?: number;

  /**
   * How far back WAF counts, in seconds: 60, 120, 300 or 600.
   * @default 300
   */
  readonly windowSeconds?: RateWindowSeconds;
}

/**
 * A WAF web ACL for an {@link EdgeFrontDoor}'s distribution, in a stack of its own: CloudFront
 * only takes web ACLs of scope CLOUDFRONT, which live in us-east-1, while the stage may live in
 * any region. Deploy it first and give its ARN (the `WebAclArn` output) to the stage as a plain
 * string, as the custom domain's certificate ARN is given, so no cross-region reference is needed.
 *
 * One rule ($1 a month beside the web ACL's $5, and $0.60 per million requests it inspects):
 * a rate limit per viewer IP on WebSocket handshakes (requests with `Sec-WebSocket-Key`); every
 * other request is allowed. WAF sees each request CloudFront receives, so each handshake, but
 * never the frames of an open socket; and it guards only the distribution, not the raw
 * execute-api host, which the stage's edge secret closes.
 */
export class EdgeWebAclStack extends Stack {
  /** The web ACL. */
  public readonly webAcl: CfnWebACL;
  /** Its ARN, what a distribution's `webAclId` takes. */
  public readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: EdgeWebAclStackProps = {}) {
    super(scope, id, props);
    const limit = props.handshakesPerWindow ?? 300;
    const window = props.windowSeconds ?? 300;
    const problems = [
      ...(Token.isUnresolved(this.region) || this.region !== 'us-east-1'
        ? [
            `a web ACL for CloudFront must be in us-east-1: pin env.region to 'us-east-1' (it is ${Token.isUnresolved(this.region) ? 'not pinned' : this.region})`,
          ]
        : []),
      ...(Number.isInteger(limit) && limit >= MIN_RATE_LIMIT
        ? []
        : [`handshakesPerWindow must be a whole number, ${MIN_RATE_LIMIT} or more, not ${limit}`]),
      ...(RATE_WINDOWS.includes(window)
        ? []
        : [`windowSeconds must be 60, 120, 300 or 600, not ${String(window)}`]),
    ];
    if (problems.length > 0) throw new Error(`EdgeWebAclStack ${id}: ${problems.join('; ')}`);

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      name: `${this.stackName}-edge`,
      description: `Rate limit per viewer IP on WebSocket handshakes: ${limit} per ${window} s`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${this.stackName}-edge`),
      rules: [handshakeRateRule(limit, window, `${this.stackName}-handshakes-per-ip`)],
    });
    this.webAclArn = this.webAcl.attrArn;
    new CfnOutput(this, 'WebAclArn', {
      description: "Give this to the stage's edge.webAclArn in bin/config.ts",
      value: this.webAclArn,
    });
  }
}

function visibility(metricName: string): CfnWebACL.VisibilityConfigProperty {
  return { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName };
}

/** Blocks, with 429, a viewer IP's handshakes past `limit` in `window` seconds. */
function handshakeRateRule(limit: number, window: number, metricName: string) {
  return {
    name: 'HandshakesPerViewerIp',
    priority: 0,
    action: { block: { customResponse: { responseCode: 429 } } },
    statement: {
      rateBasedStatement: {
        aggregateKeyType: 'IP',
        limit,
        evaluationWindowSec: window,
        scopeDownStatement: {
          sizeConstraintStatement: {
            // singleHeader is untyped JSON, passed through as is: CloudFormation's own casing.
            fieldToMatch: { singleHeader: { Name: HANDSHAKE_HEADER } },
            comparisonOperator: 'GT',
            size: 0,
            textTransformations: [{ priority: 0, type: 'NONE' }],
          },
        },
      },
    },
    visibilityConfig: visibility(metricName),
  } satisfies CfnWebACL.RuleProperty;
}

// arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>
const CLOUDFRONT_WEB_ACL_ARN =
  /^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[^/]+\/[^/]+$/;

/** Why `arn` cannot be a distribution's web ACL, or undefined when it can (or is a token). */
export function webAclArnProblem(arn: string): string | undefined {
  if (Token.isUnresolved(arn) || CLOUDFRONT_WEB_ACL_ARN.test(arn)) return undefined;
  return `webAclArn must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT (arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID), got ${JSON.stringify(arn)}`;
}

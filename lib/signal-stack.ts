import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import { HostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { ENVIRONMENT } from '../lambda/core/environment.js';
import { EdgeFrontDoor, type EdgeCustomDomain } from './edge-front-door.js';
import { acknowledgeControlTowerFindings } from './guard.js';
import { SignalBrake, type SignalBrakeOptions } from './signal-brake.js';
import { SignalBudget, type SignalBudgetOptions } from './signal-budget.js';
import { SignalMonitoring, type SignalMonitoringOptions } from './signal-monitoring.js';
import { SIGNAL_SERVER_DEFAULTS, SignalServer, type SignalServerProps } from './signal-server.js';

/**
 * A custom domain for a stage's edge, given as plain values: the hosted zone by ID and name, not
 * looked up, so that the stack stays environment-agnostic and synthesizes offline.
 */
export interface SignalEdgeDomain {
  /** The host name viewers use, e.g. `signal.example.com`. No default. */
  readonly domainName: string;

  /** The ARN of an ACM certificate in us-east-1 covering `domainName`. No default. */
  readonly certificateArn: string;

  /**
   * The Route 53 public hosted zone holding `domainName`: A and AAAA alias records then point
   * the name at the distribution.
   * @default - no DNS records; point `domainName` at the distribution yourself
   */
  readonly hostedZone?: {
    /** The zone's ID, e.g. `Z0123456789ABCDEFGHIJ`. */
    readonly hostedZoneId: string;
    /** The zone's domain name, e.g. `example.com`. */
    readonly zoneName: string;
  };
}

/** The edge is on: CloudFront in front of the stage. */
export interface SignalEdgeOn {
  readonly enabled: true;
  /**
   * A custom domain name for the edge.
   * @default - only the distribution's own `*.cloudfront.net` name
   */
  readonly customDomain?: SignalEdgeDomain;

  /**
   * Whether `$connect` refuses (403) a handshake that did not come through this distribution:
   * CloudFront sends a secret generated at deploy time as a custom origin header, and the
   * connect function requires it. Off, anyone who knows the raw execute-api host (a stack
   * output) can skip CloudFront, its WAF and its viewer address.
   * @default true
   */
  readonly requireEdgeSecret?: boolean;

  /**
   * The ARN of a WAFv2 web ACL of scope CLOUDFRONT for the distribution, as a plain string (an
   * EdgeWebAclStack's `WebAclArn` output).
   * @default - no web ACL
   */
  readonly webAclArn?: string;
}

/** The edge is off: clients connect to the stage URL with the query form only. */
export interface SignalEdgeOff {
  readonly enabled: false;
}

/** Whether a stage has the edge front door ({@link EdgeFrontDoor}), and its domain. */
export type SignalEdgeSettings = SignalEdgeOn | SignalEdgeOff;

/** Properties of a {@link SignalStack}. */
export interface SignalStackProps extends StackProps {
  /**
   * The signal server's configuration (stage name, throttling, limits, retention, ...).
   * @default - the SignalServer defaults
   */
  readonly server?: SignalServerProps;

  /**
   * The edge front door: a CloudFront distribution in front of the stage that accepts the
   * original client's path form (`/introduction/:id`, `/connection/:a/:b/:key`) and answers
   * `GET /` with the fish page.
   * @default { enabled: true } - on, at the distribution's own `*.cloudfront.net` name
   */
  readonly edge?: SignalEdgeSettings;

  /**
   * The stage's dashboard and alarms: where alarms notify (`alarmEmail` or `alarmTopic`) and
   * their thresholds.
   * @default - a dashboard and alarms with the SignalMonitoring defaults, notifying no one
   */
  readonly monitoring?: SignalMonitoringOptions;

  /**
   * The brake: when the stage carries a multiple of its expected peak, throttle it near zero
   * and stop `$default` and `$connect` until an operator releases it. Always there.
   * @default - the SignalBrake defaults: 3× half the stage throttle, for 3 minutes
   */
  readonly brake?: SignalBrakeOptions;

  /**
   * A daily cost budget filtered on the stack's cost-allocation tags, e-mailing
   * `monitoring.alarmEmail` when one is set. `undefined`: no budget.
   * @default - no budget
   */
  readonly budget?: SignalBudgetOptions & { readonly tags: Readonly<Record<string, string>> };
}

/**
 * One deployable signal server: a {@link SignalServer}, by default an {@link EdgeFrontDoor} in
 * front of its stage, and their URLs as stack outputs. Environment-agnostic (no lookups), so
 * it synthesizes without credentials.
 */
export class SignalStack extends Stack {
  /** The signal server this stack holds. */
  public readonly server: SignalServer;
  /** The edge front door, unless the edge is off. */
  public readonly edge?: EdgeFrontDoor;
  /** The stage's dashboard and alarms. */
  public readonly monitoring: SignalMonitoring;
  /** The brake on the stage's traffic. */
  public readonly brake: SignalBrake;
  /** The daily cost budget, when the stage has one. */
  public readonly budget?: SignalBudget;

  constructor(scope: Construct, id: string, props: SignalStackProps = {}) {
    super(scope, id, props);
    const edge = props.edge ?? { enabled: true };
    for (const field of ['customDomain', 'requireEdgeSecret', 'webAclArn'] as const) {
      if (!edge.enabled && (edge as object as Partial<SignalEdgeOn>)[field] !== undefined) {
        throw new Error(`SignalStack ${id}: edge.${field} needs edge.enabled: true`);
      }
    }

    this.server = new SignalServer(this, 'SignalServer', props.server);
    this.monitoring = new SignalMonitoring(this, 'Monitoring', {
      ...props.monitoring,
      server: this.server,
    });

    this.brake = new SignalBrake(this, 'Brake', {
      ...props.brake,
      server: this.server,
      topic: this.monitoring.topic,
      logRetention: props.server?.logRetention ?? SIGNAL_SERVER_DEFAULTS.logRetention,
      logRemovalPolicy: props.server?.removalPolicy ?? SIGNAL_SERVER_DEFAULTS.removalPolicy,
    });
    if (props.budget) {
      this.budget = new SignalBudget(this, 'Budget', {
        ...props.budget,
        budgetName: `${id}-daily`,
        email: props.monitoring?.alarmEmail,
      });
    }

    if (edge.enabled) this.edge = this.createEdge(edge, props.server);
    this.addOutputs();
    acknowledgeControlTowerFindings(this, edge.enabled && edge.customDomain !== undefined);
  }

  /**
   * The edge front door in front of the server's stage. Clients only: the functions keep the
   * stage's own callback URL, because the management API is never called through CloudFront.
   * With the edge secret required, the connect function gets it as a dynamic reference.
   */
  private createEdge(edge: SignalEdgeOn, server: SignalServerProps | undefined): EdgeFrontDoor {
    const frontDoor = new EdgeFrontDoor(this, 'Edge', {
      stage: this.server.stage,
      customDomain: edge.customDomain && this.customDomain(edge.customDomain),
      // An Origin allowlist at $connect needs the viewer's Origin through CloudFront.
      forwardOriginHeader: (server?.allowedOrigins ?? []).length > 0,
      originSecret: edge.requireEdgeSecret ?? true,
      webAclArn: edge.webAclArn,
    });
    if (frontDoor.originSecret) {
      // Resolved at deploy, like the header; the function needs no Secrets Manager access.
      this.server.connectFunction.addEnvironment(
        ENVIRONMENT.edgeSecret,
        frontDoor.originSecret.headerValue,
      );
    }
    return frontDoor;
  }

  /** The stage's URLs, and the edge's when there is one. */
  private addOutputs(): void {
    new CfnOutput(this, 'WebSocketUrl', {
      description: "The stage's own wss:// URL (query form only)",
      value: this.server.webSocketUrl,
    });
    new CfnOutput(this, 'BrakeFunctionName', {
      description: 'The brake function; release the brake with npm run brake -- release',
      value: this.brake.functionName,
    });
    new CfnOutput(this, 'ManagementUrl', {
      description:
        "The stage's https:// management (@connections callback) URL; never behind CloudFront",
      value: this.server.callbackUrl,
    });
    if (this.edge) {
      new CfnOutput(this, 'EdgeWebSocketUrl', {
        description:
          'The wss:// URL of the edge: give it to a cevitxe-signal-client (path or query form)',
        value: this.edge.webSocketUrl,
      });
      new CfnOutput(this, 'EdgeHttpsUrl', {
        description: 'The https:// URL of the edge, where the fish page answers',
        value: this.edge.httpsUrl,
      });
    }
  }

  private customDomain(domain: SignalEdgeDomain): EdgeCustomDomain {
    const { domainName, certificateArn, hostedZone } = domain;
    if (
      hostedZone &&
      !Token.isUnresolved(hostedZone.hostedZoneId) &&
      !/^Z[A-Z0-9]{1,31}$/.test(hostedZone.hostedZoneId)
    ) {
      throw new Error(
        `SignalStack ${this.node.id}: edge.customDomain.hostedZone.hostedZoneId must be a Route 53 zone ID like Z0123456789ABCDEFGHIJ, got ${JSON.stringify(hostedZone.hostedZoneId)}`,
      );
    }
    return {
      domainName,
      certificateArn,
      hostedZone: hostedZone && HostedZone.fromHostedZoneAttributes(this, 'EdgeZone', hostedZone),
    };
  }
}

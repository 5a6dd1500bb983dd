import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SignalServer, type SignalServerProps } from './signal-server.js';

/** Properties of a {@link SignalStack}. */
export interface SignalStackProps extends StackProps {
  /**
   * The signal server's configuration (stage name, throttling, limits, retention, ...).
   * @default - the SignalServer defaults
   */
  readonly server?: SignalServerProps;
}

/**
 * One deployable signal server: a {@link SignalServer} and its two URLs as stack outputs.
 * Environment-agnostic (no lookups), so it synthesizes without credentials.
 */
export class SignalStack extends Stack {
  /** The signal server this stack holds. */
  public readonly server: SignalServer;

  constructor(scope: Construct, id: string, props: SignalStackProps = {}) {
    super(scope, id, props);

    this.server = new SignalServer(this, 'SignalServer', props.server);

    // Edge front door (not wired in yet): CloudFront in front of the stage, from
    // lib/edge-front-door.ts. It goes here, e.g.
    //   const frontDoor = new EdgeFrontDoor(this, 'EdgeFrontDoor', { stage: this.server.stage });
    // with `frontDoor.webSocketUrl` as a third output. The functions keep the stage's own
    // callback URL: the management API is never called through CloudFront.

    new CfnOutput(this, 'WebSocketUrl', {
      description: 'The wss:// URL clients connect to',
      value: this.server.webSocketUrl,
    });
    new CfnOutput(this, 'ManagementUrl', {
      description: "The stage's https:// management (@connections callback) URL",
      value: this.server.callbackUrl,
    });
  }
}

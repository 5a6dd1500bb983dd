// The hard caps of one stage: what bounds the bill whatever the traffic. The stage throttle
// bounds inbound requests, not what they cost; these bound the rest (docs/deploying.md, "What an
// attacker can cost you").
import { Token } from 'aws-cdk-lib';
import type { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { SignalServer } from './signal-server.js';
import type { SignalThrottle } from './signal-server-props.js';

/** Reserved concurrency of each function; a function left out reserves none. */
export interface SignalReservedConcurrency {
  readonly connect?: number;
  readonly default?: number;
  readonly disconnect?: number;
  readonly deliver?: number;
  /** The brake's: 1 keeps it able to run when an attack has taken the account's concurrency. */
  readonly brake?: number;
}

/** The caps of a stage. */
export interface SignalCaps {
  /**
   * The `$connect` route's own throttle, below the stage's default, so that a connection flood
   * cannot spend the message budget and each held connection's minutes stay bounded.
   * @default { rateLimit: 10, burstLimit: 20 }
   */
  readonly connectThrottle?: SignalThrottle;

  /**
   * Reserved concurrency per function: bounds Lambda duration billed, and keeps the rest of the
   * account's concurrency for other work. A reservation is taken from the account's quota, and
   * AWS keeps 100 unreserved: a new account's quota can be 10, where any reservation fails to
   * deploy. So it is off unless a stage turns it on (prod does).
   * @default - none reserved
   */
  readonly reservedConcurrency?: SignalReservedConcurrency;

  /**
   * The table's on-demand maximum read request units per second (`MaxReadRequestUnits`,
   * best effort): requests above it are throttled, and throttled requests are not billed.
   * @default 1000
   */
  readonly tableMaxReadUnits?: number;

  /**
   * The table's on-demand maximum write request units per second (`MaxWriteRequestUnits`). A
   * held 32 KB frame alone writes 33 units, so this is what bounds a held-frame flood.
   * @default 500
   */
  readonly tableMaxWriteUnits?: number;
}

/** Default values of {@link SignalCaps}. */
export const SIGNAL_CAPS_DEFAULTS = {
  connectThrottle: { rateLimit: 10, burstLimit: 20 },
  reservedConcurrency: {},
  tableMaxReadUnits: 1000,
  tableMaxWriteUnits: 500,
} as const satisfies Required<SignalCaps>;

export type SignalCapsSettings = Required<SignalCaps>;

/** The caps in force: the defaults with `caps` merged over them. */
export function capsSettings(caps: SignalCaps | undefined): SignalCapsSettings {
  return {
    connectThrottle: caps?.connectThrottle ?? SIGNAL_CAPS_DEFAULTS.connectThrottle,
    reservedConcurrency: caps?.reservedConcurrency ?? SIGNAL_CAPS_DEFAULTS.reservedConcurrency,
    tableMaxReadUnits: caps?.tableMaxReadUnits ?? SIGNAL_CAPS_DEFAULTS.tableMaxReadUnits,
    tableMaxWriteUnits: caps?.tableMaxWriteUnits ?? SIGNAL_CAPS_DEFAULTS.tableMaxWriteUnits,
  };
}

/** Every problem with the caps, as sentences, given the stage throttle they must stay below. */
export function capsProblems(caps: SignalCapsSettings, stageThrottle: SignalThrottle): string[] {
  const problems: string[] = [];
  const known = (n: number) => !Token.isUnresolved(n);
  const positiveInteger = (name: string, n: number, min: number) => {
    if (known(n) && !(Number.isInteger(n) && n >= min))
      problems.push(`${name} must be an integer of at least ${min}, got ${n}`);
  };
  const { connectThrottle: connect } = caps;
  if (known(connect.rateLimit) && !(connect.rateLimit > 0))
    problems.push(
      `caps.connectThrottle.rateLimit must be greater than 0, got ${connect.rateLimit}`,
    );
  positiveInteger('caps.connectThrottle.burstLimit', connect.burstLimit, 1);
  if (
    known(connect.rateLimit) &&
    known(stageThrottle.rateLimit) &&
    connect.rateLimit >= stageThrottle.rateLimit
  ) {
    problems.push(
      `caps.connectThrottle.rateLimit (${connect.rateLimit}) must be below the stage throttle's ${stageThrottle.rateLimit}: connections would share the message budget`,
    );
  }
  const reserved: Record<string, number | undefined> = { ...caps.reservedConcurrency };
  for (const [name, count] of Object.entries(reserved)) {
    if (!['connect', 'default', 'disconnect', 'deliver', 'brake'].includes(name))
      problems.push(`caps.reservedConcurrency.${name} is not a function of the server`);
    else if (count !== undefined) positiveInteger(`caps.reservedConcurrency.${name}`, count, 1);
  }
  positiveInteger('caps.tableMaxReadUnits', caps.tableMaxReadUnits, 1);
  positiveInteger('caps.tableMaxWriteUnits', caps.tableMaxWriteUnits, 1);
  return problems;
}

/**
 * Applies the caps that are not set where their resource is made: the `$connect` route's own
 * throttle and each function's reserved concurrency (the table's maximums are its billing).
 */
export function applyCaps(server: SignalServer): void {
  throttleConnectRoute(
    server.stage.node.defaultChild as CfnStage,
    server.webSocketApi.node.findChild('$connect-Route'),
    server.caps.connectThrottle,
  );
  const functions = {
    connect: server.connectFunction,
    default: server.defaultFunction,
    disconnect: server.disconnectFunction,
    deliver: server.deliverFunction,
  };
  // The brake's own is set by SignalBrake, which makes it.
  for (const [name, fn] of Object.entries(functions)) {
    const count = server.caps.reservedConcurrency[name as keyof typeof functions];
    if (count !== undefined)
      (fn.node.defaultChild as CfnFunction).reservedConcurrentExecutions = count;
  }
}

/**
 * The `$connect` route's own throttle. The L2 stage sets only the default, so this is
 * CloudFormation's `RouteSettings`; the stage waits for the route, which must exist first.
 */
function throttleConnectRoute(stage: CfnStage, connectRoute: IConstruct, throttle: SignalThrottle) {
  stage.routeSettings = {
    $connect: {
      ThrottlingRateLimit: throttle.rateLimit,
      ThrottlingBurstLimit: throttle.burstLimit,
    },
  };
  stage.node.addDependency(connectRoute);
}

import { CfnResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogField, AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { DELIVER_TIMEOUT_MS } from '../lambda/core/context.js';
import { ENVIRONMENT } from '../lambda/core/environment.js';
import { DEFAULT_LIMITS, type Limits } from '../lambda/core/limits.js';
import { TABLE_SCHEMA } from '../lambda/core/schema.js';
import { FUNCTION_GRANTS, grantFunction, type FunctionGrants } from './grants.js';
import { definedOnly, refuseInvalidProps } from './props.js';
import { applyCaps, capsProblems, capsSettings, type SignalCapsSettings } from './signal-caps.js';
import { SignalFunction } from './signal-function.js';
import {
  SIGNAL_SERVER_DEFAULTS,
  signalServerProblems,
  type SignalServerProps,
  type SignalServerSettings,
} from './signal-server-props.js';

// The props are this construct's own: its importers find them here.
export {
  SIGNAL_SERVER_DEFAULTS,
  type LogLevel,
  type SignalServerProps,
  type SignalThrottle,
} from './signal-server-props.js';

/**
 * The error text as API Gateway writes it into a log line already quoted and escaped as a JSON
 * string, so it goes into the format without quotes of its own.
 */
const QUOTED_ERROR_MESSAGE = AccessLogField.contextErrorMessageString();

/**
 * The stage's access log line, one JSON object: who and what, never the query string (ids, key,
 * token), headers or message bodies. Every variable is one API Gateway documents for WebSocket
 * access logs. The error message is the one free text API Gateway puts in a line, so it is the
 * pre-quoted `$context.error.messageString`: a message with quotes still makes valid JSON. The
 * user agent, free text with no pre-quoted variable, is left out (behind CloudFront it is
 * CloudFront's own anyway).
 */
export const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    stage: '$context.stage',
    requestId: AccessLogField.contextRequestId(),
    extendedRequestId: '$context.extendedRequestId',
    requestTimeEpoch: '$context.requestTimeEpoch',
    eventType: AccessLogField.contextEventType(),
    routeKey: AccessLogField.contextRouteKey(),
    connectionId: AccessLogField.contextConnectionId(),
    messageId: '$context.messageId',
    status: AccessLogField.contextStatus(),
    error: QUOTED_ERROR_MESSAGE,
    errorType: AccessLogField.contextErrorResponseType(),
    integrationLatency: '$context.integrationLatency',
    sourceIp: AccessLogField.contextIdentitySourceIp(),
  }).replace(JSON.stringify(QUOTED_ERROR_MESSAGE), QUOTED_ERROR_MESSAGE),
);

/**
 * How the deliver function's asynchronous invocations are retried: twice (Lambda waits about
 * one, then two minutes), and never once the event is older than ten minutes, when the peers it
 * was for have long stopped waiting. An event that still fails goes to the failure queue.
 */
export const DELIVER_ASYNC_INVOKE = {
  retryAttempts: 2,
  maxEventAge: Duration.minutes(10),
} as const;

/**
 * The deliver function retries 410 for up to PAIRING_GRACE_MS after pairing (the peer's $connect
 * may take API Gateway's full 29 s), then posts the held frames: the grace period plus 30 s.
 * The core treats a delivery claim older than this as dead (DELIVER_TIMEOUT_MS).
 */
const DELIVER_TIMEOUT = Duration.millis(DELIVER_TIMEOUT_MS);

/**
 * The cevitxe signal server on API Gateway WebSockets: one DynamoDB table, one function per
 * route (`$connect`, `$default`, `$disconnect`), an asynchronous `deliver` function that pushes
 * held frames to a freshly paired socket once it can be written to, the WebSocket API and its
 * stage, and least-privilege grants between them.
 */
export class SignalServer extends Construct {
  /** Connections, key sets and held frames (`pk`/`sk` strings, TTL attribute `expiresAt`). */
  public readonly table: TableV2;
  /** The WebSocket API with its three routes. */
  public readonly webSocketApi: WebSocketApi;
  /** The auto-deployed stage clients connect to. */
  public readonly stage: WebSocketStage;
  /** The stage's access log, unless access logging is off. */
  public readonly accessLogGroup?: LogGroup;
  /** The role API Gateway logs through, when this construct sets the account's. */
  public readonly apiGatewayCloudWatchRole?: Role;
  /** Handles `$connect`: validates the query, registers the socket, introduces or pairs it. */
  public readonly connectFunction: SignalFunction;
  /** Handles `$default`: introduction messages and relay frames. */
  public readonly defaultFunction: SignalFunction;
  /** Handles `$disconnect`: unregisters the socket and closes its peer. */
  public readonly disconnectFunction: SignalFunction;
  /** Invoked asynchronously by the connect function to deliver held frames to a new peer. */
  public readonly deliverFunction: SignalFunction;
  /**
   * The deliver function's on-failure destination: a record of every delivery that failed all
   * its attempts or grew too old to retry (the invocation request and the error).
   */
  public readonly deliverFailureQueue: Queue;
  /** The `wss://` URL clients connect to. */
  public readonly webSocketUrl: string;
  /** The `https://` management (`@connections`) endpoint of the stage. */
  public readonly callbackUrl: string;
  /** The limits in force: `DEFAULT_LIMITS` with `props.limits` merged over them. */
  public readonly limits: Limits;
  /** The caps in force: `props.caps` over `SIGNAL_CAPS_DEFAULTS`. */
  public readonly caps: SignalCapsSettings;

  constructor(scope: Construct, id: string, props: SignalServerProps = {}) {
    super(scope, id);
    const settings = { ...SIGNAL_SERVER_DEFAULTS, ...definedOnly(props) };
    this.limits = { ...DEFAULT_LIMITS, ...definedOnly(props.limits ?? {}) };
    this.caps = capsSettings(props.caps);
    refuseInvalidProps('SignalServer', this, [
      ...signalServerProblems(settings, this.limits, props.connectTokenParameter),
      ...capsProblems(this.caps, settings.throttle),
    ]);

    this.table = this.createTable(settings);
    this.webSocketApi = this.createApi(id, settings);
    this.accessLogGroup = settings.accessLogging ? this.createAccessLogs(settings) : undefined;
    this.stage = this.createStage(settings);
    if (settings.apiGatewayCloudWatchRole) {
      this.apiGatewayCloudWatchRole = this.setAccountLoggingRole();
    }
    this.webSocketUrl = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

    const functions = this.createFunctions(settings, props);
    this.deliverFunction = functions.deliver;
    this.deliverFailureQueue = functions.deliverFailureQueue;
    this.connectFunction = functions.connect;
    this.defaultFunction = functions.default;
    this.disconnectFunction = functions.disconnect;

    this.createRoutes();
    applyCaps(this);
    this.grantAccess();
    this.acknowledgeNagFindings(settings);
  }

  /** The one table: `pk`/`sk` strings, TTL, billed on demand up to the caps' maximum units. */
  private createTable(settings: SignalServerSettings): TableV2 {
    const { tableMaxReadUnits: maxReadRequestUnits, tableMaxWriteUnits: maxWriteRequestUnits } =
      this.caps;
    return new TableV2(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLE_SCHEMA.timeToLiveAttribute,
      billing: Billing.onDemand({ maxReadRequestUnits, maxWriteRequestUnits }),
      removalPolicy: settings.removalPolicy,
      deletionProtection: settings.deletionProtection,
      pointInTimeRecoverySpecification: {
        pointInTimeRecoveryEnabled: settings.pointInTimeRecovery,
      },
    });
  }

  private createApi(id: string, settings: SignalServerSettings): WebSocketApi {
    return new WebSocketApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-${id}`,
      description: `cevitxe signal server (${settings.stageName})`,
    });
  }

  /** The stage's access log group (see {@link SignalServerProps.accessLogging}). */
  private createAccessLogs(settings: SignalServerSettings): LogGroup {
    return new LogGroup(this, 'AccessLogs', {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
  }

  /** The auto-deployed, throttled stage, writing its access log when there is one. */
  private createStage(settings: SignalServerSettings): WebSocketStage {
    return new WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: settings.stageName,
      autoDeploy: true,
      throttle: settings.throttle,
      accessLogSettings: this.accessLogGroup && {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: ACCESS_LOG_FORMAT,
      },
    });
  }

  /**
   * Points API Gateway's account-wide CloudWatch Logs setting at a role made here, kept when the
   * stack goes (see {@link SignalServerProps.apiGatewayCloudWatchRole}).
   */
  private setAccountLoggingRole(): Role {
    const role = new Role(this, 'ApiGatewayCloudWatchRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      description: "API Gateway's account-wide CloudWatch Logs role (access and execution logs)",
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    // After an API (as CloudFormation's documentation asks): set before, it may fail with "The
    // role ARN does not have required permissions". The stage can only log once it is set.
    account.addDependency(this.webSocketApi.node.defaultChild as CfnResource);
    this.stage.node.addDependency(account);
    return role;
  }

  /**
   * The four functions, with the stage's memory, log retention and environment, and the deliver
   * function's retries and failure queue.
   */
  private createFunctions(
    settings: SignalServerSettings,
    props: SignalServerProps,
  ): SignalFunctions {
    const common = {
      memorySize: settings.memorySize,
      logRetention: settings.logRetention,
      logRemovalPolicy: settings.removalPolicy,
    };
    const environment = {
      [ENVIRONMENT.tableName]: this.table.tableName,
      [ENVIRONMENT.managementEndpoint]: this.callbackUrl,
      [ENVIRONMENT.limits]: JSON.stringify(this.limits),
      [ENVIRONMENT.logLevel]: settings.logLevel,
      [ENVIRONMENT.stage]: settings.stageName,
    };

    const deliver = new SignalFunction(this, 'DeliverFunction', {
      ...common,
      entry: 'lambda/deliver.ts',
      apiRoute: false,
      timeout: DELIVER_TIMEOUT,
      description: 'Delivers held frames to a freshly paired socket (async, retries 410)',
      environment,
    });
    const deliverFailureQueue = this.createDeliverFailureQueue(deliver, settings);
    const connect = new SignalFunction(this, 'ConnectFunction', {
      ...common,
      entry: 'lambda/connect.ts',
      description: 'WebSocket $connect: register, introduce, pair',
      environment: {
        ...environment,
        [ENVIRONMENT.deliverFunctionName]: deliver.functionName,
        ...(settings.allowedOrigins.length > 0
          ? { [ENVIRONMENT.allowedOrigins]: settings.allowedOrigins.join(',') }
          : {}),
        ...(props.connectTokenParameter !== undefined
          ? {
              [ENVIRONMENT.connectToken]: StringParameter.valueForStringParameter(
                this,
                props.connectTokenParameter,
              ),
            }
          : {}),
      },
    });
    const defaultFunction = new SignalFunction(this, 'DefaultFunction', {
      ...common,
      entry: 'lambda/default.ts',
      description: 'WebSocket $default: introduction messages and relay',
      environment,
    });
    const disconnect = new SignalFunction(this, 'DisconnectFunction', {
      ...common,
      entry: 'lambda/disconnect.ts',
      description: 'WebSocket $disconnect: unregister, close the peer',
      environment,
    });
    return { deliver, deliverFailureQueue, connect, default: defaultFunction, disconnect };
  }

  /**
   * Retries the deliver function's asynchronous invocations as {@link DELIVER_ASYNC_INVOKE} says
   * and records those that still fail in a queue of their own.
   */
  private createDeliverFailureQueue(
    deliver: SignalFunction,
    settings: SignalServerSettings,
  ): Queue {
    const queue = new Queue(this, 'DeliverFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: settings.removalPolicy,
    });
    deliver.configureAsyncInvoke({ ...DELIVER_ASYNC_INVOKE, onFailure: new SqsDestination(queue) });
    return queue;
  }

  /** `$connect`, `$default` and `$disconnect`, each through its own Lambda integration. */
  private createRoutes(): void {
    this.webSocketApi.addRoute('$connect', {
      integration: new WebSocketLambdaIntegration('ConnectIntegration', this.connectFunction),
    });
    this.webSocketApi.addRoute('$default', {
      integration: new WebSocketLambdaIntegration('DefaultIntegration', this.defaultFunction),
    });
    this.webSocketApi.addRoute('$disconnect', {
      integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.disconnectFunction),
    });
  }

  /**
   * Least privilege: each function gets the table actions and `@connections` methods of
   * {@link FUNCTION_GRANTS}; only the connect function may invoke the deliver function.
   */
  private grantAccess(): void {
    const grants: [SignalFunction, FunctionGrants][] = [
      [this.connectFunction, FUNCTION_GRANTS.connect],
      [this.defaultFunction, FUNCTION_GRANTS.default],
      [this.disconnectFunction, FUNCTION_GRANTS.disconnect],
      [this.deliverFunction, FUNCTION_GRANTS.deliver],
    ];
    for (const [fn, granted] of grants) grantFunction(fn, granted, this.table, this.stage);
    // The connect function invokes the deliver function by its unqualified name: no versions.
    this.deliverFunction.grantInvokeLatestVersion(this.connectFunction);
  }

  /**
   * The cdk-nag AwsSolutions findings this construct accepts, each with why it fits this product
   * (the `@connections` wildcard is acknowledged where {@link grantAccess} grants it).
   */
  private acknowledgeNagFindings(settings: SignalServerSettings): void {
    Validations.of(this.webSocketApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'The cevitxe signal protocol has no credentials and the original client sends none, so no route can require an authorizer. $connect makes its own optional checks (Origin allowlist, shared token from SSM); $default and $disconnect only run for connections $connect accepted.',
    });
    if (!settings.accessLogging) {
      Validations.of(this.stage).acknowledge({
        id: 'AwsSolutions-APIG1',
        reason:
          "Access logging is off because this stage's configuration says accessLogging: false (one log line per message costs CloudWatch Logs ingestion); the functions still log every request they handle.",
      });
    }
    if (this.apiGatewayCloudWatchRole) {
      Validations.of(this.apiGatewayCloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "The AWS-maintained policy for API Gateway's account-wide CloudWatch Logs role: API Gateway writes the logs of every API in the account and region through this one role, so no policy scoped to this stack can replace it.",
      });
    }
    Validations.of(this.deliverFailureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself a dead-letter destination: the deliver function's asynchronous invocations that failed every attempt. Nothing consumes it automatically; an alarm fires on its first message.",
    });
  }
}

/** The functions of a {@link SignalServer} and the deliver function's failure queue. */
interface SignalFunctions {
  readonly deliver: SignalFunction;
  readonly deliverFailureQueue: Queue;
  readonly connect: SignalFunction;
  readonly default: SignalFunction;
  readonly disconnect: SignalFunction;
}

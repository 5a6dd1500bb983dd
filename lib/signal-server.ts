import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogField, AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { DELIVER_TIMEOUT_MS } from '../lambda/core/context.js';
import { DEFAULT_LIMITS, MAX_FRAME_BYTES, type Limits } from '../lambda/core/limits.js';
import { ENVIRONMENT } from '../lambda/core/environment.js';
import { TABLE_SCHEMA } from '../lambda/core/schema.js';
import { SignalFunction } from './signal-function.js';

/** How much the Lambda functions log; they read it from `LOG_LEVEL`. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Steady-state request rate and burst for every route of the stage. */
export interface SignalThrottle {
  /** Requests per second, steady state. Must be greater than 0. */
  readonly rateLimit: number;
  /** Requests that may arrive at once above the steady rate. A positive integer. */
  readonly burstLimit: number;
}

/** Properties of a {@link SignalServer}. */
export interface SignalServerProps {
  /**
   * The API Gateway stage name; it is the last path segment of the `wss://` URL.
   * Letters, digits, `-` and `_`, at most 128 characters.
   * @default 'dev'
   */
  readonly stageName?: string;

  /**
   * Default route throttling of the stage (every message a client sends counts).
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: SignalThrottle;

  /**
   * Protocol limits, merged over `DEFAULT_LIMITS` from lambda/core/limits.ts and passed to the
   * functions as JSON in `LIMITS`. Each must be a positive integer.
   * @default DEFAULT_LIMITS
   */
  readonly limits?: Partial<Limits>;

  /**
   * Memory of every function in MB, 128 to 10240.
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * How long the functions' log groups keep their events.
   * @default RetentionDays.ONE_WEEK
   */
  readonly logRetention?: RetentionDays;

  /**
   * What happens to the table and the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How much the functions log.
   * @default 'info'
   */
  readonly logLevel?: LogLevel;

  /**
   * Whether the table keeps point-in-time recovery backups (35 days).
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;

  /**
   * Origins allowed to open a connection, compared exactly with the handshake's `Origin` header
   * (`scheme://host[:port]`, no path). Passed to the connect function as `ALLOWED_ORIGINS`.
   * Browsers always send `Origin`; other clients may not, and are then refused.
   * @default [] - any origin, and none, may connect
   */
  readonly allowedOrigins?: readonly string[];

  /**
   * The name of an SSM String parameter (created by the operator) holding a shared token that
   * every handshake must carry as `token=…` in its query; the edge's path form carries it
   * through. The template holds only the name: the value is resolved by CloudFormation at each
   * deploy (an `AWS::SSM::Parameter::Value<String>` stack parameter) and reaches the connect
   * function as `CONNECT_TOKEN`. Rotate it by putting a new value and deploying again. It is
   * readable in the function's configuration, so treat it as a gate against casual use, not
   * as a per-user credential. The original cevitxe client sends no token.
   * @default - no token is needed
   */
  readonly connectTokenParameter?: string;

  /**
   * Whether the stage writes one JSON access log line per connect, message and disconnect to a
   * log group of its own (kept for `logRetention`, removed by `removalPolicy`): request and
   * connection ids, event, route, status, error, latency, source IP and user agent, never the
   * query string, headers or bodies. Handshakes refused and messages throttled by API Gateway
   * (429) show only here, since they never reach a function. API Gateway writes the log through
   * the account's CloudWatch Logs role: see `apiGatewayCloudWatchRole`. Turning it off is a
   * deliberate choice, so the construct then acknowledges cdk-nag's AwsSolutions-APIG1 itself.
   * @default true
   */
  readonly accessLogging?: boolean;

  /**
   * Whether to set API Gateway's account-wide CloudWatch Logs role (one setting per account and
   * region, `AWS::ApiGateway::Account`) to a role this construct creates. Access logging needs
   * that setting once per account and region; turn this off where it is already made (by a
   * landing zone, say, or another stack). The role is kept when the stack is deleted, because
   * every API of the account and region logs through whichever role the setting names.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;
}

/** Default values of the optional {@link SignalServerProps}. */
export const SIGNAL_SERVER_DEFAULTS = {
  stageName: 'dev',
  throttle: { rateLimit: 100, burstLimit: 200 },
  memorySize: 256,
  logRetention: RetentionDays.ONE_WEEK,
  removalPolicy: RemovalPolicy.RETAIN,
  logLevel: 'info',
  pointInTimeRecovery: false,
  allowedOrigins: [],
  accessLogging: true,
  apiGatewayCloudWatchRole: true,
} as const satisfies Settings;

const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const ORIGIN = /^https?:\/\/[^\s,/]+$/;
// SSM parameter names: a plain name, or a path of such names starting with "/".
const SSM_PARAMETER_NAME = /^(?:[A-Za-z0-9_.-]+|(?:\/[A-Za-z0-9_.-]+)+)$/;
const LOG_LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'] satisfies LogLevel[];
/**
 * The DynamoDB actions lambda/core/store.ts calls, and nothing more: items and queries on the one
 * table, no Scan, no table administration (the document client needs no DescribeTable).
 */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

/**
 * The stage's access log line: who and what, never the query string (ids, key, token), headers
 * or message bodies. Every variable is one API Gateway documents for WebSocket access logs.
 */
export const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: AccessLogField.contextRequestId(),
    extendedRequestId: '$context.extendedRequestId',
    requestTimeEpoch: '$context.requestTimeEpoch',
    eventType: AccessLogField.contextEventType(),
    routeKey: AccessLogField.contextRouteKey(),
    connectionId: AccessLogField.contextConnectionId(),
    messageId: '$context.messageId',
    status: AccessLogField.contextStatus(),
    error: AccessLogField.contextErrorMessage(),
    errorType: AccessLogField.contextErrorResponseType(),
    integrationLatency: '$context.integrationLatency',
    sourceIp: AccessLogField.contextIdentitySourceIp(),
    userAgent: AccessLogField.contextIdentityUserAgent(),
  }),
);

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
  /** The `wss://` URL clients connect to. */
  public readonly webSocketUrl: string;
  /** The `https://` management (`@connections`) endpoint of the stage. */
  public readonly callbackUrl: string;
  /** The limits in force: `DEFAULT_LIMITS` with `props.limits` merged over them. */
  public readonly limits: Limits;

  constructor(scope: Construct, id: string, props: SignalServerProps = {}) {
    super(scope, id);
    const settings = { ...SIGNAL_SERVER_DEFAULTS, ...definedOnly(props) };
    this.limits = { ...DEFAULT_LIMITS, ...definedOnly(props.limits ?? {}) };
    const problems = validate(settings, this.limits, props.connectTokenParameter);
    if (problems.length > 0) {
      throw new Error(
        `Invalid SignalServer props (${this.node.path}):\n- ${problems.join('\n- ')}`,
      );
    }

    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLE_SCHEMA.timeToLiveAttribute,
      billing: Billing.onDemand(),
      removalPolicy: settings.removalPolicy,
      pointInTimeRecoverySpecification: {
        pointInTimeRecoveryEnabled: settings.pointInTimeRecovery,
      },
    });

    this.webSocketApi = new WebSocketApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-${id}`,
      description: `cevitxe signal server (${settings.stageName})`,
    });
    Validations.of(this.webSocketApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'The cevitxe signal protocol has no credentials and the original client sends none, so no route can require an authorizer. $connect makes its own optional checks (Origin allowlist, shared token from SSM); $default and $disconnect only run for connections $connect accepted.',
    });
    if (settings.accessLogging) {
      this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
        retention: settings.logRetention,
        removalPolicy: settings.removalPolicy,
      });
    }
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: settings.stageName,
      autoDeploy: true,
      throttle: settings.throttle,
      accessLogSettings: this.accessLogGroup && {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: ACCESS_LOG_FORMAT,
      },
    });
    if (!settings.accessLogging) {
      Validations.of(this.stage).acknowledge({
        id: 'AwsSolutions-APIG1',
        reason:
          "Access logging is off because this stage's configuration says accessLogging: false (one log line per message costs CloudWatch Logs ingestion); the functions still log every request they handle.",
      });
    }
    if (settings.apiGatewayCloudWatchRole) {
      this.apiGatewayCloudWatchRole = new Role(this, 'ApiGatewayCloudWatchRole', {
        assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
        description: "API Gateway's account-wide CloudWatch Logs role (access and execution logs)",
        managedPolicies: [
          ManagedPolicy.fromAwsManagedPolicyName(
            'service-role/AmazonAPIGatewayPushToCloudWatchLogs',
          ),
        ],
      });
      this.apiGatewayCloudWatchRole.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(this.apiGatewayCloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "The AWS-maintained policy for API Gateway's account-wide CloudWatch Logs role: API Gateway writes the logs of every API in the account and region through this one role, so no policy scoped to this stack can replace it.",
      });
      const account = new CfnAccount(this, 'ApiGatewayAccount', {
        cloudWatchRoleArn: this.apiGatewayCloudWatchRole.roleArn,
      });
      // The stage can only log once the account names a role.
      this.stage.node.addDependency(account);
    }
    this.webSocketUrl = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

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

    this.deliverFunction = new SignalFunction(this, 'DeliverFunction', {
      ...common,
      entry: 'lambda/deliver.ts',
      apiRoute: false,
      timeout: DELIVER_TIMEOUT,
      description: 'Delivers held frames to a freshly paired socket (async, retries 410)',
      environment,
    });
    this.connectFunction = new SignalFunction(this, 'ConnectFunction', {
      ...common,
      entry: 'lambda/connect.ts',
      description: 'WebSocket $connect: register, introduce, pair',
      environment: {
        ...environment,
        [ENVIRONMENT.deliverFunctionName]: this.deliverFunction.functionName,
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
    this.defaultFunction = new SignalFunction(this, 'DefaultFunction', {
      ...common,
      entry: 'lambda/default.ts',
      description: 'WebSocket $default: introduction messages and relay',
      environment,
    });
    this.disconnectFunction = new SignalFunction(this, 'DisconnectFunction', {
      ...common,
      entry: 'lambda/disconnect.ts',
      description: 'WebSocket $disconnect: unregister, close the peer',
      environment,
    });

    this.webSocketApi.addRoute('$connect', {
      integration: new WebSocketLambdaIntegration('ConnectIntegration', this.connectFunction),
    });
    this.webSocketApi.addRoute('$default', {
      integration: new WebSocketLambdaIntegration('DefaultIntegration', this.defaultFunction),
    });
    this.webSocketApi.addRoute('$disconnect', {
      integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.disconnectFunction),
    });

    for (const fn of [
      this.connectFunction,
      this.defaultFunction,
      this.disconnectFunction,
      this.deliverFunction,
    ]) {
      this.table.grant(fn, ...TABLE_ACTIONS);
      // `<stage>/*/@connections/*`: every method, since closing a peer is a DELETE, and every
      // connection id, since ids only exist at run time. Scoped to this API and stage.
      const manage = this.stage.grantManagementApiAccess(fn);
      for (const arn of manage.principalStatements.flatMap((statement) => statement.resources)) {
        Validations.of(fn.role!).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(this).resolve(arn))}]`,
          reason:
            'execute-api:ManageConnections on this API and stage only. The method wildcard covers POST (send a frame) and DELETE (close a peer); the connection-id wildcard is needed because connection ids exist only at run time.',
        });
      }
    }
    // The connect function invokes the deliver function by its unqualified name: no versions.
    this.deliverFunction.grantInvokeLatestVersion(this.connectFunction);
  }
}

/** The props that always have a value once defaults are applied. */
type Settings = Required<Omit<SignalServerProps, 'limits' | 'connectTokenParameter'>>;

/**
 * A resolved CloudFormation value as cdk-nag spells it in a finding ID: `Fn::Join` joined,
 * `{ Ref: X }` as `<X>`, `{ 'Fn::GetAtt': [X, Y] }` as `<X.Y>`.
 */
function flattenReference(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if ('Fn::Join' in node) {
    const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if ('Ref' in node) return `<${flattenReference(node.Ref)}>`;
  if ('Fn::GetAtt' in node) {
    const [resource, attribute] = node['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  return JSON.stringify(value);
}

/** Drops keys whose value is `undefined`, so they do not override defaults when spread. */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Every problem with the props, as sentences; empty when they are valid. Tokens are not checked. */
function validate(
  settings: Settings,
  limits: Limits,
  connectTokenParameter: string | undefined,
): string[] {
  const problems: string[] = [];
  const known = (n: number): boolean => !Token.isUnresolved(n);
  const { stageName, throttle, memorySize, logLevel, allowedOrigins } = settings;

  if (!Token.isUnresolved(stageName) && !STAGE_NAME.test(stageName)) {
    problems.push(
      `stageName "${stageName}" must be 1-128 characters of letters, digits, "-" and "_"`,
    );
  }
  if (
    known(throttle.rateLimit) &&
    !(Number.isFinite(throttle.rateLimit) && throttle.rateLimit > 0)
  ) {
    problems.push(`throttle.rateLimit must be a number greater than 0, got ${throttle.rateLimit}`);
  }
  if (
    known(throttle.burstLimit) &&
    !(Number.isInteger(throttle.burstLimit) && throttle.burstLimit >= 1)
  ) {
    problems.push(
      `throttle.burstLimit must be an integer of at least 1, got ${throttle.burstLimit}`,
    );
  }
  if (
    known(memorySize) &&
    !(Number.isInteger(memorySize) && memorySize >= 128 && memorySize <= 10240)
  ) {
    problems.push(`memorySize must be an integer from 128 to 10240 MB, got ${memorySize}`);
  }
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${String(logLevel)}"`);
  }
  for (const origin of allowedOrigins) {
    if (!ORIGIN.test(origin)) {
      problems.push(
        `allowedOrigins entry "${origin}" must be an origin like https://app.example.com (scheme and host, no path, no comma)`,
      );
    }
  }

  if (
    connectTokenParameter !== undefined &&
    !Token.isUnresolved(connectTokenParameter) &&
    !(SSM_PARAMETER_NAME.test(connectTokenParameter) && connectTokenParameter.length <= 1011)
  ) {
    problems.push(
      `connectTokenParameter "${connectTokenParameter}" must be an SSM parameter name like /cevitxe/prod/connect-token (letters, digits, ".", "-", "_"; a path starts with "/")`,
    );
  }

  for (const [name, value] of Object.entries(limits)) {
    if (!(name in DEFAULT_LIMITS)) {
      problems.push(
        `limits.${name} is not a known limit (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`,
      );
    } else if (!(typeof value === 'number' && Number.isSafeInteger(value) && value > 0)) {
      problems.push(`limits.${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (Number.isSafeInteger(limits.maxHeldBytes) && limits.maxHeldBytes < MAX_FRAME_BYTES) {
    problems.push(
      `limits.maxHeldBytes (${limits.maxHeldBytes}) is below the ${MAX_FRAME_BYTES}-byte frame limit: a full-size frame could never be held`,
    );
  }
  return problems;
}

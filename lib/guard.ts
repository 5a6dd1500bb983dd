// CloudFormation Guard at synth: AWS Control Tower's proactive controls and the project's own
// rules (guard/), through cdk-validator-cfnguard, which bundles the cfn-guard binary (offline).
// What this product accepts of Control Tower's findings is acknowledged here, with reasons.
import { resolve } from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import {
  Validations,
  type IPolicyValidationContext,
  type IPolicyValidationPlugin,
  type PolicyValidationPluginReport,
} from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from './signal-function.js';
import type { SignalStack } from './signal-stack.js';

/** The project's own Guard rules: the caps every stage must have (docs/deploying.md). */
export const GUARD_RULES = resolve(PROJECT_ROOT, 'guard');

/** The Guard plugin bin/app.ts registers: Control Tower's rules and the project's. */
export function signalGuardValidator(): IPolicyValidationPlugin {
  return new GuardErrors(new CfnGuardValidator({ rules: [GUARD_RULES] }));
}

/**
 * Guard's findings carry no severity. Once any finding of a report is acknowledged, CDK decides
 * the report from the severities left, so an unacknowledged Guard finding would pass: every
 * finding is an error here.
 */
class GuardErrors implements IPolicyValidationPlugin {
  public readonly name: string;
  public readonly version?: string;
  public readonly ruleIds?: string[];

  constructor(private readonly guard: CfnGuardValidator) {
    this.name = guard.name;
    this.version = guard.version;
    this.ruleIds = guard.ruleIds;
  }

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const report = this.guard.validate(context);
    return {
      ...report,
      violations: report.violations.map((violation) => ({
        ...violation,
        severity: violation.severity ?? 'error',
      })),
    };
  }
}

/** How the Guard plugin names a rule in an acknowledgement. */
const rule = (name: string) => `cdk-validator-cfnguard::${name}`;

function acknowledge(scope: IConstruct | undefined, name: string, reason: string): void {
  if (scope) Validations.of(scope).acknowledge({ id: rule(name), reason });
}

/**
 * The Control Tower findings this product accepts on a stage, each where it arises, with why
 * it fits a public, anonymous signalling server. The rest are fixed in the constructs.
 */
export function acknowledgeControlTowerFindings(stack: SignalStack, customDomain: boolean): void {
  const { server, brake, monitoring, edge } = stack;
  acknowledge(
    server.webSocketApi,
    'api_gw_v2_authorization_type_configured_check',
    'The cevitxe signal protocol has no credentials and the original client sends none, and a WebSocket API can authorize only $connect anyway. $connect makes its own optional checks (Origin allowlist, shared token); the bill is bounded by the caps and the brake instead.',
  );
  acknowledge(
    server.webSocketApi,
    'lambda_function_public_access_prohibited_check',
    "Each route's permission names apigateway.amazonaws.com with a SourceArn of this API's own route (a Fn::Join of the API id, which the rule cannot read as a local reference): only this API may invoke the function.",
  );
  for (const scope of [server, brake]) {
    acknowledge(
      scope,
      'cloudwatch_log_group_retention_period_check',
      "Retention is the stage's choice (bin/config.ts logRetention: a week in dev, three months in prod): the logs hold connection ids and source addresses, kept no longer than debugging needs.",
    );
    acknowledge(
      scope,
      'cloudwatch_log_group_encrypted_check',
      'CloudWatch Logs encrypts every log group at rest with its own keys; the logs hold no payloads, tokens or keys (lambda/core/log.ts), so a customer-managed KMS key would add a monthly and per-request cost and no protection.',
    );
    acknowledge(
      scope,
      'lambda_inside_vpc_check',
      'The functions reach only DynamoDB, API Gateway, Lambda and SNS public endpoints over TLS with IAM; a VPC would add NAT or endpoint charges and cold-start time, and protect nothing these functions hold.',
    );
  }
  acknowledge(
    server.deliverFailureQueue,
    'sqs_dlq_check',
    "This queue is itself a dead-letter destination: the deliver function's invocations that failed every attempt. An alarm fires on its first message.",
  );
  if (!monitoring.topic) {
    acknowledge(
      monitoring,
      'cloudwatch_alarm_action_check',
      "This stage's configuration names no alarmEmail or alarmTopic, so its alarms show on the dashboard and notify no one; the brake's alarm always has its action.",
    );
  }
  if (edge) acknowledgeEdgeFindings(edge, customDomain);
}

function acknowledgeEdgeFindings(edge: IConstruct, customDomain: boolean): void {
  acknowledge(
    edge,
    'cloudfront_default_root_object_configured_check',
    'The distribution has no S3 origin: a CloudFront Function answers GET / with the fish page and passes WebSocket upgrades to API Gateway, so there is no object to serve.',
  );
  acknowledge(
    edge,
    'cloudfront_origin_failover_enabled_check',
    "The one origin is this stage's regional API: there is no second origin to fail over to (its connections and table are in one region).",
  );
  acknowledge(
    edge,
    'cloudfront_access_logs_enabled_check',
    "The stage's own access log records every handshake, message and disconnect with the viewer's address; CloudFront's logs would need a bucket and repeat only the upgrades.",
  );
  if (!customDomain) {
    for (const name of [
      'cloudfront_custom_ssl_certificate_check',
      'cloudfront_sni_enabled_check',
      'cloudfront_security_policy_check',
    ]) {
      acknowledge(
        edge,
        name,
        "The stage uses the distribution's own *.cloudfront.net name, whose certificate CloudFront provides (TLS 1.2 cannot be required on it); a stage with edge.customDomain gets its own certificate, SNI and TLS 1.2.",
      );
    }
  }
}

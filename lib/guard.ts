// What this product accepts of the Control Tower findings that CloudFormation Guard reports at
// synth (lib/guard-validator.ts) is acknowledged here, with reasons.
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { SignalStack } from './signal-stack.js';

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

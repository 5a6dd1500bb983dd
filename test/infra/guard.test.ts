// CloudFormation Guard at synth (lib/guard-validator.ts): Control Tower's rules, whose accepted findings are
// acknowledged, and the project's own rules (guard/caps.guard), which stop synth when a stage
// lacks a cap that bounds its bill. Runs the bundled cfn-guard binary: offline.
import { Validations, type App } from 'aws-cdk-lib';
import type { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { CfnGlobalTable } from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import { signalStackProps, STAGES, type StageName } from '../../bin/config.js';
import { signalGuardValidator } from '../../lib/guard-validator.js';
import { SignalStack, type SignalStackProps } from '../../lib/signal-stack.js';
import { appWithoutBundling } from '../support/stacks.js';

/** An app checked by the Guard plugin as bin/app.ts registers it, holding one stage's stack. */
function guarded(
  stage: StageName,
  change: (props: SignalStackProps) => SignalStackProps = (p) => p,
) {
  const app: App = appWithoutBundling();
  Validations.of(app).addPlugins(signalGuardValidator());
  const props = change(signalStackProps(stage));
  return { app, stack: new SignalStack(app, `CevitxeSignal-${stage}`, props) };
}

// Each synth runs cfn-guard over the template: slow on a shared machine.
describe('Guard at synth', { timeout: 240_000 }, () => {
  it.each(Object.keys(STAGES) as StageName[])(
    'lets the %s stage through, every Control Tower finding fixed or acknowledged',
    (stage) => {
      const { app } = guarded(stage);
      expect(() => app.synth()).not.toThrow();
    },
  );

  it('stops synth, naming the cap, when prod reserves no concurrency', () => {
    const { app } = guarded('prod', (props) => ({
      ...props,
      server: { ...props.server, caps: { ...STAGES.prod.caps, reservedConcurrency: {} } },
    }));
    expect(() => app.synth()).toThrow(/SIGNAL\.CAPS\.3.*reserved concurrency/);
  });

  it('stops synth when the $connect route throttle is gone', () => {
    const { app, stack } = guarded('dev');
    (stack.server.stage.node.defaultChild as CfnStage).routeSettings = undefined;
    expect(() => app.synth()).toThrow(/SIGNAL\.CAPS\.1.*\$connect route throttle/);
  });

  it('stops synth when the table has no maximum units', () => {
    const { app, stack } = guarded('dev');
    (stack.server.table.node.defaultChild as CfnGlobalTable).addPropertyDeletionOverride(
      'WriteOnDemandThroughputSettings',
    );
    expect(() => app.synth()).toThrow(
      /MaxWriteRequestUnits\] is missing[\s\S]*signal_table_maximums/,
    );
  });

  it('stops synth when the stage has no brake', () => {
    const { app, stack } = guarded('dev');
    expect(stack.node.tryRemoveChild('Brake')).toBe(true);
    expect(() => app.synth()).toThrow(/SIGNAL\.CAPS\.4.*the brake/);
  });

  it('acknowledges exactly the Control Tower findings this product accepts, each with its reason', () => {
    const { stack } = guarded('prod');
    const acks = stack.node.findAll().flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
        .filter(([id]) => id.startsWith('cdk-validator-cfnguard::')),
    );
    expect(
      [...new Set(acks.map(([id]) => id.replace('cdk-validator-cfnguard::', '')))].sort(),
    ).toEqual([
      'api_gw_v2_authorization_type_configured_check',
      'cloudfront_access_logs_enabled_check',
      'cloudfront_custom_ssl_certificate_check',
      'cloudfront_default_root_object_configured_check',
      'cloudfront_origin_failover_enabled_check',
      'cloudfront_security_policy_check',
      'cloudfront_sni_enabled_check',
      'cloudwatch_alarm_action_check',
      'cloudwatch_log_group_encrypted_check',
      'cloudwatch_log_group_retention_period_check',
      'lambda_function_public_access_prohibited_check',
      'lambda_inside_vpc_check',
      'sqs_dlq_check',
    ]);
    for (const [id, reason] of acks) expect(reason.length, id).toBeGreaterThan(80);
  });
});

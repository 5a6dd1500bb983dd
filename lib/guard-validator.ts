// CloudFormation Guard at synth: AWS Control Tower's proactive controls and the project's own
// rules (guard/), through cdk-validator-cfnguard, which bundles the cfn-guard binary (offline).
// The app registers this plugin (bin/app.ts); the constructs need only lib/guard.ts, so an app
// that installs them needs no Guard.
import { resolve } from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import type {
  IPolicyValidationContext,
  IPolicyValidationPlugin,
  PolicyValidationPluginReport,
} from 'aws-cdk-lib';
import { PROJECT_ROOT } from './signal-function.js';

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

// cfn-lint over every stage's synthesized template: a template CloudFormation would refuse, or
// one with a needless or doubtful construct, fails here instead of at deploy. cfn-lint is a
// Python tool (pip install cfn-lint); without it the test skips, saying so, except under CI=true,
// where .ci/run installs it and the test must run.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { signalStackProps, STAGES, type StageName } from '../../bin/config.js';
import { SignalStack } from '../../lib/signal-stack.js';
import { appLikeCli } from '../support/stacks.js';

const run = promisify(execFile);

/** One finding of `cfn-lint --format json`. */
interface Finding {
  readonly Filename: string;
  readonly Level: string;
  readonly Message: string;
  readonly Location: { readonly Path: ReadonlyArray<string | number> };
  readonly Rule: { readonly Id: string };
}

interface TemplateJson {
  readonly Resources: Record<string, { readonly Type: string }>;
}

/**
 * The one finding accepted: cfn-lint's bundled schema does not know `Tags` on
 * `AWS::CloudWatch::Dashboard` (E3002), which CloudFormation accepts. Only that rule, on that
 * resource type, at its `Tags`.
 */
function isDashboardTags(finding: Finding, template: TemplateJson): boolean {
  const [section, logicalId] = finding.Location.Path;
  return (
    finding.Rule.Id === 'E3002' &&
    section === 'Resources' &&
    template.Resources[String(logicalId)]?.Type === 'AWS::CloudWatch::Dashboard' &&
    /'Tags' was unexpected/.test(finding.Message)
  );
}

async function cfnLintVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('cfn-lint', ['--version']);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** Runs cfn-lint once over `files`; its exit code only says which levels it found. */
async function lint(files: string[]): Promise<Finding[]> {
  try {
    const { stdout } = await run('cfn-lint', ['--format', 'json', '--', ...files], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return JSON.parse(stdout || '[]') as Finding[];
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    // 2, 4 and 8 (and their sums) flag errors, warnings and notes; anything else is a failure.
    if (typeof code === 'number' && code > 0 && code < 16 && stdout) {
      return JSON.parse(stdout) as Finding[];
    }
    throw new Error(`cfn-lint failed (exit ${String(code)}): ${stderr ?? ''}`, { cause: error });
  }
}

const stages = Object.keys(STAGES) as StageName[];
const outdir = mkdtempSync(join(tmpdir(), 'signal-cfn-lint-'));
const templates = new Map<string, { readonly stage: string; readonly json: TemplateJson }>();
let version: string | undefined;
let findings: Finding[] = [];

/** Skips with the reason when cfn-lint is missing; under CI=true fails instead. */
function requireCfnLint(ctx: TestContext): void {
  if (version !== undefined) return;
  const reason = 'cfn-lint is not installed (pip install cfn-lint): the templates were not linted';
  if (process.env.CI === 'true') throw new Error(`${reason}, and CI=true requires it`);
  console.warn(`skipped: ${reason}`);
  ctx.skip(reason);
}

describe('cfn-lint', () => {
  beforeAll(async () => {
    version = await cfnLintVersion();
    if (version === undefined) return;
    for (const stage of stages) {
      // As bin/app.ts builds it, with cdk.json's context; bundling skipped (assets are not linted).
      const app = appLikeCli({
        outdir: join(outdir, stage),
        context: { 'aws:cdk:bundling-stacks': [] },
      });
      const props = signalStackProps(stage);
      const stack = new SignalStack(app, props.stackName, props);
      app.synth();
      const file = join(outdir, stage, stack.templateFile);
      templates.set(file, { stage, json: JSON.parse(readFileSync(file, 'utf8')) as TemplateJson });
    }
    // A template with a known mistake proves that findings reach the test.
    const broken = join(outdir, 'broken.template.json');
    writeFileSync(
      broken,
      JSON.stringify({
        Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { NoSuchProperty: 1 } } },
      }),
    );
    findings = await lint([...templates.keys(), broken]);
  }, 120_000);

  // Tests leave nothing behind in the temporary directory.
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('reports a template’s mistakes, as the stages’ templates are checked below', (ctx) => {
    requireCfnLint(ctx);
    const broken = findings.filter((f) => f.Filename.endsWith('broken.template.json'));
    expect(broken.map((f) => f.Rule.Id)).toContain('E3002');
  });

  it.for(stages)('finds nothing in the %s template but the dashboard’s Tags', (stage, ctx) => {
    requireCfnLint(ctx);
    const [file, template] = [...templates].find(([, t]) => t.stage === stage)!;
    const own = findings.filter((f) => f.Filename === file);
    const unexpected = own.filter((f) => !isDashboardTags(f, template.json));
    expect(
      unexpected.map((f) => `${f.Rule.Id} ${f.Location.Path.join('/')}: ${f.Message}`),
      `cfn-lint ${version}`,
    ).toEqual([]);
  });
});

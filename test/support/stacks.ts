// Shared by the tests of the constructs: builds stacks the way bin/app.ts does, with or without
// bundling, and reads their templates.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, type AppProps, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, expect } from 'vitest';
import { signalStackProps, type StageName } from '../../bin/config.js';
import type { SignalFunction } from '../../lib/signal-function.js';
import type { SignalServer } from '../../lib/signal-server.js';
import { SignalStack, type SignalStackProps } from '../../lib/signal-stack.js';

/**
 * Where the apps of one test file synthesize (an app without `outdir` makes a `cdk.out*` folder
 * of its own in the temporary directory, and nothing removes it): one folder, removed once the
 * file's tests are done.
 */
const SYNTH_ROOT = mkdtempSync(join(tmpdir(), 'signal-infra-'));
afterAll(() => rmSync(SYNTH_ROOT, { recursive: true, force: true }));

/** An ACM certificate ARN in us-east-1, where CloudFront takes certificates from. */
export const CERTIFICATE_ARN =
  'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

/** A WAFv2 web ACL ARN of scope CLOUDFRONT, which CloudFront takes from us-east-1 only. */
export const WEB_ACL_ARN =
  'arn:aws:wafv2:us-east-1:123456789012:global/webacl/CevitxeSignal-prod-waf-edge/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111';

/**
 * The context `cdk synth` gives bin/app.ts from cdk.json (the feature flags among it), so that
 * the tests see the templates the CLI makes.
 */
export const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/** An app with cdk.json's context and feature flags, plus `props`. */
export function appLikeCli(props: AppProps = {}): App {
  return new App({
    ...props,
    outdir: props.outdir ?? mkdtempSync(join(SYNTH_ROOT, 'cdk.out-')),
    context: { ...CDK_JSON_CONTEXT, ...props.context },
  });
}

/** An app that skips asset bundling: the stacks' templates, without running esbuild. */
export function appWithoutBundling(): App {
  return appLikeCli({ context: { 'aws:cdk:bundling-stacks': [] } });
}

/** A stage's stack exactly as bin/app.ts builds it, plus its template. */
export function stageStack(stage: StageName, app: App = appWithoutBundling()) {
  const props = signalStackProps(stage);
  const stack = new SignalStack(app, props.stackName, props);
  return { app, stack, template: Template.fromStack(stack) };
}

/** A stack holding a SignalServer with the given props, plus its template. */
export function customStack(props: SignalStackProps = {}) {
  const stack = new SignalStack(appWithoutBundling(), 'Custom', props);
  return { stack, template: Template.fromStack(stack) };
}

/** Any JSON object of a template. */
export interface Json {
  [key: string]: unknown;
}

/** The one resource of `type` in `template` (and that there is exactly one). */
export function onlyResource(template: Template, type: string): { id: string; properties: Json } {
  const resources = Object.entries(template.findResources(type));
  expect(resources).toHaveLength(1);
  const [id, resource] = resources[0] as [string, { Properties: Json }];
  return { id, properties: resource.Properties };
}

/** The `DistributionConfig` of the template's one CloudFront distribution. */
export function distributionConfig(template: Template): Json {
  return onlyResource(template, 'AWS::CloudFront::Distribution').properties
    .DistributionConfig as Json;
}

/** A resource of a synthesized template. */
export interface ResourceJson {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** An IAM policy statement of a synthesized template. */
export interface StatementJson {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

/** Every resource of a template, by logical ID. */
export function resourcesOf(template: Template): Record<string, ResourceJson> {
  return (template.toJSON() as { Resources: Record<string, ResourceJson> }).Resources;
}

/** Every IAM policy statement of a template, with the logical IDs of the roles it applies to. */
export function policyStatementsOf(
  template: Template,
): Array<{ readonly roles: string[]; readonly statement: StatementJson }> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const props = (policy as ResourceJson).Properties as {
      Roles: Array<{ Ref: string }>;
      PolicyDocument: { Statement: StatementJson[] };
    };
    const roles = props.Roles.map((role) => role.Ref);
    return props.PolicyDocument.Statement.map((statement) => ({ roles, statement }));
  });
}

/** The actions of a statement, always as a list. */
export function actionsOf(statement: StatementJson): string[] {
  return typeof statement.Action === 'string' ? [statement.Action] : statement.Action;
}

/** The logical ID of a construct's CloudFormation resource (a function's `defaultChild`, ...). */
export function logicalIdOf(construct: IConstruct): string {
  const resource = construct.node.defaultChild ?? construct;
  return Stack.of(construct).getLogicalId(resource as CfnElement);
}

/** The four functions of a server, by the short name tests and alarms give them. */
export function functionsOf(server: SignalServer): Record<string, SignalFunction> {
  return {
    connect: server.connectFunction,
    default: server.defaultFunction,
    disconnect: server.disconnectFunction,
    deliver: server.deliverFunction,
  };
}

/** A function's environment variables in `template`. */
export function environmentOf(fn: SignalFunction, template: Template): Record<string, unknown> {
  const resource = resourcesOf(template)[logicalIdOf(fn)]!;
  return (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

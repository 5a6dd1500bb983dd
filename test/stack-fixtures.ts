// Shared by the stack tests: builds stacks the way bin/app.ts does, with or without bundling.
import { readFileSync } from 'node:fs';
import { App, Stack, type AppProps, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { signalStackProps, type StageName } from '../bin/config.js';
import { SignalStack, type SignalStackProps } from '../lib/signal-stack.js';

/**
 * The context `cdk synth` gives bin/app.ts from cdk.json (the feature flags among it), so that
 * the tests see the templates the CLI makes.
 */
export const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/** An app with cdk.json's context and feature flags, plus `props`. */
export function appLikeCli(props: AppProps = {}): App {
  return new App({ ...props, context: { ...CDK_JSON_CONTEXT, ...props.context } });
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

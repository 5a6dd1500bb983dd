import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EdgeWebAclStack } from '../lib/edge-web-acl.js';
import { signalGuardValidator } from '../lib/guard-validator.js';
import { SignalStack } from '../lib/signal-stack.js';
import {
  parseStage,
  signalStackProps,
  stageTags,
  webAclStackProps,
  type StageName,
} from './config.js';

// The stage comes from `-c stage=NAME` (cdk.json sets `dev` as the default); configuration is
// chosen here and passed down as props. A stage may pin its account and region (`env` in
// bin/config.ts); either way the stack makes no lookups, so synth needs no credentials.
const app = new App();
// cdk-nag's AwsSolutions rules run at synth as a policy validation plugin: an unacknowledged
// error stops `cdk synth` and `cdk deploy`. Accepted findings are acknowledged, with reasons, in
// the constructs; test/infra/nag.test.ts holds every stage to no errors and no warnings.
// Beside it, CloudFormation Guard (bundled, offline): Control Tower's proactive controls, whose
// accepted findings lib/guard.ts acknowledges, and the project's own rules in guard/, which fail
// synth when a stage lacks a cap that bounds its bill.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), signalGuardValidator());

let stage: StageName;
try {
  stage = parseStage(app.node.tryGetContext('stage') ?? 'dev');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

const props = signalStackProps(stage);
const stack = new SignalStack(app, props.stackName, props);
// A stage's WAF web ACL, when it has one, is a stack of its own in us-east-1 (CloudFront's web
// ACLs live there); the stage takes its ARN as a plain string, so no cross-region reference.
const webAclProps = webAclStackProps(stage);
const webAclStack = webAclProps && new EdgeWebAclStack(app, webAclProps.stackName, webAclProps);
for (const tagged of webAclStack ? [stack, webAclStack] : [stack]) {
  for (const [key, value] of Object.entries(stageTags(stage))) Tags.of(tagged).add(key, value);
}

app.synth();

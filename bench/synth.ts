/**
 * Run by bundles.ts in a child process (CDK's bundling prints esbuild's output): bundles each
 * function exactly as the stack does, through SignalFunction (lib/signal-function.ts, CDK's
 * NodejsFunction with the project's esbuild), so the bench measures what is deployed. Prints
 * JSON: each bundle's directory and environment, and the stages' memory sizes.
 *
 *   tsx bench/synth.ts OUTDIR
 */
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { STAGES } from '../bin/config.js';
import { SignalFunction } from '../lib/signal-function.js';

const ENTRIES = {
  connect: 'lambda/connect.ts',
  default: 'lambda/default.ts',
  disconnect: 'lambda/disconnect.ts',
  deliver: 'lambda/deliver.ts',
  empty: 'bench/entries/empty.ts',
  'sdk-clients': 'bench/entries/sdk-clients.ts',
} as const;

export interface SynthOutput {
  bundles: {
    name: string;
    entry: string;
    dir: string;
    environment: Record<string, string>;
  }[];
  memorySize: Record<string, number>;
}

interface TemplateResource {
  Metadata?: Record<string, string>;
  Properties?: { Environment?: { Variables?: Record<string, string> } };
}

const outdir = process.argv[2];
if (!outdir) throw new Error('usage: tsx bench/synth.ts OUTDIR');
const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
const stack = new Stack(app, 'SignalBench');
const functions = Object.entries(ENTRIES).map(([name, entry]) => ({
  name: name as keyof typeof ENTRIES,
  entry,
  fn: new SignalFunction(stack, `Bench-${name}`, { entry, apiRoute: name !== 'deliver' }),
}));
const assembly = app.synth();
const template = assembly.getStackByName(stack.stackName).template as {
  Resources: Record<string, TemplateResource>;
};
const output: SynthOutput = {
  bundles: functions.map(({ name, entry, fn }) => {
    const resource = template.Resources[stack.getLogicalId(fn.node.defaultChild as CfnFunction)];
    const assetPath = resource?.Metadata?.['aws:asset:path'];
    if (!assetPath) throw new Error(`no asset for ${name}`);
    return {
      name,
      entry,
      dir: join(assembly.directory, assetPath),
      environment: resource.Properties?.Environment?.Variables ?? {},
    };
  }),
  memorySize: Object.fromEntries(
    Object.entries(STAGES).map(([stage, config]) => [stage, config.memorySize]),
  ),
};
process.stdout.write(JSON.stringify(output));

/**
 * The constructs package's build (its `prepack`): lib/ compiled to ES modules and `.d.ts` in
 * dist/, beside the CloudFront Function's source, and each Lambda entry prebundled by
 * SignalFunction itself (a synth of a SignalServer), so an app that installs the package needs
 * neither this repository's sources nor their dependencies to synthesize.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { prebundledDir, SignalFunction } from '../lib/signal-function.js';
import { SignalServer } from '../lib/signal-server.js';
import { runCommand } from './cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Each SignalFunction of a default SignalServer, bundled, copied to dist/<entry without .ts>/. */
function prebundle(): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'signal-package-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const stack = new Stack(app, 'SignalPackage');
    new SignalServer(stack, 'Server');
    const functions = stack.node
      .findAll()
      .filter((node): node is SignalFunction => node instanceof SignalFunction);
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as {
      Resources: Record<string, { Metadata?: Record<string, string> }>;
    };
    return functions.map((fn) => {
      const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnFunction);
      const asset = template.Resources[logicalId]?.Metadata?.['aws:asset:path'];
      if (!asset) throw new Error(`no bundle for ${fn.entry}`);
      cpSync(join(assembly.directory, asset), join(DIST, prebundledDir(fn.entry)), {
        recursive: true,
      });
      return fn.entry;
    });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

await runCommand('Usage: npm pack (runs tsx scripts/build-package.ts)', () => {
  rmSync(DIST, { recursive: true, force: true });
  execFileSync(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  cpSync(join(ROOT, 'edge/rewrite.js'), join(DIST, 'edge/rewrite.js'));
  const entries = prebundle();
  console.log(`Constructs built in ${DIST}, with prebundled ${entries.join(', ')}`);
  return Promise.resolve();
});

// Synthesizes the dev stack with real bundling (the project's esbuild, no Docker) and checks
// that every function gets an ES module bundle that plain Node.js can load.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appLikeCli, logicalIdOf, stageStack } from '../support/stacks.js';

const run = promisify(execFile);

describe('bundling the dev stack', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'signal-bundle-'));
  const assetDirs = new Map<string, string>();

  beforeAll(() => {
    // Asset metadata (on by default under the CLI) records each function's asset directory.
    const app = appLikeCli({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const { stack } = stageStack('dev', app);
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as {
      Resources: Record<string, { Metadata?: Record<string, string> }>;
    };
    const server = stack.server;
    for (const [name, fn] of Object.entries({
      connect: server.connectFunction,
      default: server.defaultFunction,
      disconnect: server.disconnectFunction,
      deliver: server.deliverFunction,
    })) {
      const assetPath = template.Resources[logicalIdOf(fn)]?.Metadata?.['aws:asset:path'];
      if (assetPath) assetDirs.set(name, join(assembly.directory, assetPath));
    }
  }, 120_000);

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('produces one bundled asset per function', () => {
    expect([...assetDirs.keys()].sort()).toEqual(['connect', 'default', 'deliver', 'disconnect']);
    expect(new Set(assetDirs.values()).size).toBe(4);
  });

  it.each(['connect', 'default', 'disconnect', 'deliver'])(
    'bundles %s as a minified ES module with a source map and the AWS SDK inside',
    (name) => {
      const dir = assetDirs.get(name)!;
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith('import { createRequire')).toBe(true);
      expect(code).toMatch(/sourceMappingURL=index\.mjs\.map\s*$/);
      expect(code).toContain('ManagementApi');
      expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
      // Minified: a few very long lines, not indented source.
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    },
  );

  it.each(['connect', 'default', 'disconnect', 'deliver'])(
    'loads the %s bundle in plain Node.js and finds its handler',
    async (name) => {
      const file = pathToFileURL(join(assetDirs.get(name)!, 'index.mjs')).href;
      const script = `const m = await import(${JSON.stringify(file)}); process.stdout.write(typeof m.handler);`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          TABLE_NAME: 'signal',
          MANAGEMENT_ENDPOINT: 'https://example.execute-api.us-east-1.amazonaws.com/dev',
          DELIVER_FUNCTION_NAME: 'deliver',
          LIMITS: '{}',
          LOG_LEVEL: 'error',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      });
      expect(stdout).toBe('function');
    },
  );
});

/**
 * The constructs as a library: the root package packed as `npm pack` would publish it (its
 * prepack compiles lib/ and prebundles the Lambda entries), installed into a CDK app outside this
 * repository with aws-cdk-lib and constructs as its peers, and the README's app (the snippet
 * docs/snippets/cdk-app.ts) type-checked and synthesized there: a SignalServer, its monitoring and
 * its edge, each function's code the bundle the package shipped.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linked, pack, snippet, tarballFiles, tempApp, type TempApp } from '../support/package.js';

const ENTRIES = ['connect', 'default', 'disconnect', 'deliver'];

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    // aws-cdk-lib's own declarations use Disposable.
    lib: ['ES2022', 'ESNext.Disposable'],
    types: [],
    strict: true,
    outDir: 'out',
  },
  files: ['app.ts'],
};

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
}

describe('the constructs installed from the package into an outside CDK app', () => {
  let packed: string;
  let tarball: string;
  let app: TempApp;

  beforeAll(async () => {
    packed = mkdtempSync(join(tmpdir(), 'signal-constructs-pack-'));
    tarball = await pack(packed);
    app = tempApp('signal-cdk-app');
    await app.install(tarball, linked('aws-cdk-lib'), linked('constructs'), linked('typescript'));
    app.write('app.ts', snippet('cdk-app.ts'));
    app.write('tsconfig.json', JSON.stringify(TSCONFIG, null, 2));
  }, 900_000);

  afterAll(() => {
    app?.remove();
    if (packed) rmSync(packed, { recursive: true, force: true });
  });

  it('publishes the compiled constructs and the prebundled functions, no sources, tests or tooling', async () => {
    const files = await tarballFiles(tarball);
    expect(files.filter((file) => !/^(dist\/|package\.json$|README\.md$)/.test(file))).toEqual([]);
    expect(files.filter((file) => /\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/edge/rewrite.js',
        ...ENTRIES.map((entry) => `dist/lambda/${entry}/index.mjs`),
      ]),
    );
  });

  it('takes aws-cdk-lib and constructs as peers, not as its own dependencies', () => {
    const manifest = JSON.parse(
      readFileSync(join(app.dir, 'node_modules/cevitxe-signal-serverless/package.json'), 'utf8'),
    ) as Record<string, Record<string, string> | undefined>;
    expect(Object.keys(manifest.peerDependencies ?? {}).sort()).toEqual([
      'aws-cdk-lib',
      'constructs',
    ]);
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['esbuild']);
  });

  it("type-checks the README's app under strict", async () => {
    await app.exec('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
  }, 300_000);

  it('synthesizes the server, its monitoring and its edge, with the shipped bundles as code', async () => {
    if (!existsSync(join(app.dir, 'out/app.js')))
      await app.exec('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
    const outdir = join(app.dir, 'cdk.out');
    await app.exec('node', ['out/app.js'], { CDK_OUTDIR: outdir });
    const template = JSON.parse(
      readFileSync(join(outdir, 'Signal.template.json'), 'utf8'),
    ) as Template;
    const resources = Object.values(template.Resources);
    const count = (type: string) => resources.filter((resource) => resource.Type === type).length;
    expect(count('AWS::ApiGatewayV2::Api')).toBe(1);
    expect(count('AWS::DynamoDB::GlobalTable')).toBe(1);
    expect(count('AWS::CloudFront::Distribution')).toBe(1);
    expect(count('AWS::CloudFront::Function')).toBe(1);
    expect(count('AWS::CloudWatch::Dashboard')).toBe(1);
    expect(count('AWS::CloudWatch::Alarm')).toBeGreaterThan(0);

    const functions = resources.filter((resource) => resource.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(ENTRIES.length);
    const shipped = ENTRIES.map((entry) =>
      readFileSync(
        join(app.dir, 'node_modules/cevitxe-signal-serverless/dist/lambda', entry, 'index.mjs'),
        'utf8',
      ),
    );
    const deployed = functions.map((fn) => {
      expect(fn.Properties).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs24.x' });
      const key = (fn.Properties.Code as { S3Key: string }).S3Key;
      return readFileSync(join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs'), 'utf8');
    });
    expect(new Set(deployed)).toEqual(new Set(shipped));
  }, 300_000);
});

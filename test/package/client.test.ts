/**
 * cevitxe-signal-socket as an app installs it: `npm pack -w client` (its prepack builds it), the
 * tarball installed with `ws` and TypeScript into an app outside this repository. There the docs'
 * Node and browser snippets type-check under `strict` with no cast, the browser snippet bundles
 * (esbuild, minified, as an app would) within 7 KB gzipped, and two sockets set up by the Node
 * snippet exchange a 1 MB text and a 300 KB binary message through the local gateway.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../local/gateway/index.js';
import {
  installedVersion,
  linked,
  pack,
  snippet,
  tarballFiles,
  tempApp,
  type TempApp,
} from '../support/package.js';

/** The app's own program: the Node snippet's global WebSocket, two peers, two messages. */
const EXCHANGE = `import './node.js';

const [base, run] = process.argv.slice(2);
const alice = new WebSocket(\`\${base}/connection/alice-\${run}/bob-\${run}/key-\${run}\`);
const bob = new WebSocket(\`\${base}/connection/bob-\${run}/alice-\${run}/key-\${run}\`);
bob.binaryType = 'arraybuffer';
const text = 'Grüße, 🐟! '.repeat(Math.ceil((1024 * 1024) / 16)).slice(0, 1024 * 1024);
const binary = Uint8Array.from({ length: 300 * 1024 }, (_, i) => (i * 31 + (i >> 8)) % 256);

const received: unknown[] = [];
bob.onmessage = (event) => {
  received.push(event.data);
  if (received.length < 2) return;
  const [gotText, gotBinary] = received;
  const same = new Uint8Array(gotBinary as ArrayBuffer).every((byte, i) => byte === binary[i]);
  console.log(JSON.stringify({
    text: gotText === text,
    binaryBytes: (gotBinary as ArrayBuffer).byteLength,
    binary: same,
  }));
  alice.close();
  bob.close();
};
alice.onopen = () => {
  alice.send(text);
  alice.send(binary);
};
`;

const NODE_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    types: ['node'],
    strict: true,
    outDir: 'out',
  },
  files: ['node.ts', 'exchange.ts'],
};

const BROWSER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    lib: ['ES2022', 'DOM'],
    types: [],
    strict: true,
    noEmit: true,
  },
  files: ['browser.ts'],
};

describe('cevitxe-signal-socket installed from its tarball', () => {
  let packed: string;
  let tarball: string;
  let app: TempApp;
  let gateway: Gateway;

  beforeAll(async () => {
    packed = mkdtempSync(join(tmpdir(), 'signal-socket-pack-'));
    tarball = await pack(packed, 'client');
    app = tempApp('signal-socket-app');
    await app.install(
      tarball,
      `ws@${installedVersion('ws')}`,
      `@types/ws@${installedVersion('@types/ws')}`,
      `@types/node@${installedVersion('@types/node')}`,
      linked('typescript'),
    );
    app.write('node.ts', snippet('node.ts'));
    app.write('browser.ts', snippet('browser.ts'));
    app.write('exchange.ts', EXCHANGE);
    app.write('tsconfig.json', JSON.stringify(NODE_TSCONFIG, null, 2));
    app.write('tsconfig.browser.json', JSON.stringify(BROWSER_TSCONFIG, null, 2));
    gateway = await startGateway({ logLevel: 'error', logSink: () => undefined });
  }, 600_000);

  afterAll(async () => {
    await gateway?.close();
    app?.remove();
    if (packed) rmSync(packed, { recursive: true, force: true });
  });

  it('ships the built module, its types, README and WIRE.md, and nothing else', async () => {
    const files = await tarballFiles(tarball);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.d.ts',
        'README.md',
        'WIRE.md',
        'package.json',
      ]),
    );
    expect(
      files.filter((file) => !/^(dist\/|README\.md$|WIRE\.md$|package\.json$)/.test(file)),
    ).toEqual([]);
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('has no runtime dependencies', async () => {
    const manifest = JSON.parse(
      await app.exec('node', [
        '-p',
        "JSON.stringify(require('cevitxe-signal-socket/package.json'))",
      ]),
    ) as Record<string, unknown>;
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.peerDependencies).toBeUndefined();
  });

  it('type-checks the Node snippet and the app over it under strict, with ws', async () => {
    await app.exec('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
  }, 300_000);

  it('type-checks the browser snippet with the DOM library', async () => {
    await app.exec('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.browser.json']);
  }, 300_000);

  it("bundles for browsers within 7 KB gzipped, as an app's esbuild build makes it", async () => {
    const result = await build({
      entryPoints: [join(app.dir, 'browser.ts')],
      absWorkingDir: app.dir,
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
    });
    const code = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`app bundle: ${code.length} B minified, ${gzipped} B gzipped`);
    expect(gzipped).toBeLessThanOrEqual(7 * 1024);
  });

  it('carries a 1 MB text and a 300 KB binary message between two sockets through the gateway', async () => {
    // exchange.js is compiled by the Node type-check above; compile again in case it ran alone.
    await app.exec('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
    const out = await app.exec('node', [
      'out/exchange.js',
      gateway.wsUrl(''),
      randomUUID().slice(0, 8),
    ]);
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({
      text: true,
      binaryBytes: 300 * 1024,
      binary: true,
    });
  }, 300_000);
});

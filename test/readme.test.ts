/**
 * The README's quick start, as a newcomer runs it: the snippet (docs/snippets/quick-start.mjs,
 * which the README's block equals: test/snippets.test.ts) in plain Node, with the packages its
 * install line names, against the local gateway on a free port instead of 8080. Two peers meet,
 * each hears the other once, and the process exits by itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../local/gateway/index.js';
import { snippet } from './support/package.js';
import { ROOT, run } from './support/run.js';

const DEFAULT_URL = 'ws://localhost:8080';

const runNode = (source: string) =>
  run(process.execPath, ['--input-type=module'], { input: source });

describe("the README's quick start", () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ logLevel: 'error', logSink: () => undefined });
  });
  afterAll(() => gateway.close());

  it('has two peers say hello both ways through the local gateway, then exits 0', async () => {
    const source = snippet('quick-start.mjs');
    expect(source.split(DEFAULT_URL)).toHaveLength(2);
    const { code, stdout, stderr } = await runNode(
      source.replace(DEFAULT_URL, gateway.wsUrl('').replace('127.0.0.1', 'localhost')),
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'alice got: Hello from bob!',
      'bob got: Hello from alice!',
    ]);
  });

  it("installs what it imports: cuid, which cevitxe-signal-client requires but doesn't declare", () => {
    const install = /npm install (.+)\n/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))![1]!;
    expect(install.split(' ')).toEqual(['cevitxe-signal-client@0.4.2', 'cuid@2', 'ws']);
    const client = JSON.parse(
      readFileSync(join(ROOT, 'node_modules/cevitxe-signal-client/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> };
    expect(client.dependencies).not.toHaveProperty('cuid');
    const newid = readFileSync(
      join(ROOT, 'node_modules/cevitxe-signal-client/dist/src/newid.js'),
      'utf8',
    );
    expect(newid).toContain('require("cuid")');
  });
});

/**
 * The smoke test (testing/smoke/) against the local gateway: in process through runSmoke,
 * and once as the command CI and operators run (scripts/smoke.ts), to prove its exit status.
 * Each gateway listens on a free loopback port, on its own in-memory DynamoDB, with its log lines kept out of the output.
 */
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway, type GatewayOptions } from '../local/gateway/index.js';
import { UsageError } from '../scripts/cli.js';
import { run, TSX, type Ran } from './support/run.js';
import { parseCommandLine } from '../scripts/smoke.js';
import {
  resolveTarget,
  runSmoke,
  type SmokeOptions,
  type SmokeReport,
} from '../testing/smoke/index.js';

const CHECKS = [
  'fish page',
  'introduction',
  'bad input',
  'held frames',
  'relay both ways',
  'close',
];

const quietGateway = (options: GatewayOptions = {}) =>
  startGateway({ logLevel: 'warn', logSink: () => undefined, ...options });

/** runSmoke with its report lines kept. */
async function smoke(url: string, options: SmokeOptions = {}) {
  const lines: string[] = [];
  const report = await runSmoke(url, { ...options, print: (line) => lines.push(line) });
  return { report, lines, output: lines.join('\n') };
}

const statuses = (report: SmokeReport) => report.steps.map((step) => [step.name, step.status]);

function expectAllPassed(report: SmokeReport, lines: string[]) {
  expect(report.failure).toBeUndefined();
  expect(statuses(report)).toEqual(CHECKS.map((name) => [name, 'passed']));
  CHECKS.forEach((name, i) =>
    expect(lines).toContainEqual(expect.stringMatching(`^✓ ${i + 1}/6 ${name}: .+ \\(\\d+ ms\\)$`)),
  );
  expect(lines.at(-1)).toMatch(/^PASSED: 6 of 6 checks passed/);
  expect(report.ok).toBe(true);
}

/** Runs the command as `npx tsx scripts/smoke.ts …` would, without blocking the gateway. */
function cli(args: string[]): Promise<Ran> {
  return run(TSX, ['scripts/smoke.ts', ...args], { env: { ...process.env, SMOKE_TOKEN: '' } });
}

/** A loopback port where nothing listens (free a moment ago). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the smoke test’s target', () => {
  it('uses the path form and checks the fish page for an edge URL', () => {
    const target = resolveTarget('wss://d111111abcdef8.cloudfront.net');
    expect(target.form).toBe('path');
    expect(target.pageUrl).toBe('https://d111111abcdef8.cloudfront.net/');
    expect(target.introductionUrl('a b')).toBe(
      'wss://d111111abcdef8.cloudfront.net/introduction/a%20b',
    );
    expect(target.connectionUrl('a', 'b/c', 'k')).toBe(
      'wss://d111111abcdef8.cloudfront.net/connection/a/b%2Fc/k',
    );
  });

  it('uses the query form and no fish page for a raw API Gateway stage URL', () => {
    const target = resolveTarget('wss://abc123.execute-api.eu-west-1.amazonaws.com/dev/');
    expect(target.form).toBe('query');
    expect(target.pageUrl).toBeUndefined();
    expect(target.introductionUrl('a')).toBe(
      'wss://abc123.execute-api.eu-west-1.amazonaws.com/dev?type=introduction&localId=a',
    );
    expect(target.connectionUrl('a', 'b', 'k&x')).toBe(
      'wss://abc123.execute-api.eu-west-1.amazonaws.com/dev?type=connection&localId=a&remoteId=b&key=k%26x',
    );
  });

  it('refuses a raw API Gateway URL without its stage', () => {
    expect(() => resolveTarget('wss://abc123.execute-api.eu-west-1.amazonaws.com')).toThrow(
      UsageError,
    );
  });

  it('uses the query form for a URL with a stage path, the path form when told, and adds the token', () => {
    const local = resolveTarget('http://localhost:8080/local', { token: 's e' });
    expect(local.form).toBe('query');
    expect(local.pageUrl).toBe('http://localhost:8080/');
    expect(local.introductionUrl('a')).toBe(
      'ws://localhost:8080/local?type=introduction&localId=a&token=s+e',
    );
    const forced = resolveTarget('ws://localhost:8080', { form: 'query', token: 't' });
    expect(forced.connectionUrl('a', 'b', 'k')).toBe(
      'ws://localhost:8080/?type=connection&localId=a&remoteId=b&key=k&token=t',
    );
    const path = resolveTarget('ws://localhost:8080', { token: 't' });
    expect(path.introductionUrl('a')).toBe('ws://localhost:8080/introduction/a?token=t');
  });

  it('reads the command line, and refuses what it does not understand', () => {
    expect(
      parseCommandLine(['ws://x', '--timeout', '500', '--form', 'query', '--skip-page'], {
        SMOKE_TOKEN: 'env-token',
      }),
    ).toEqual({
      help: false,
      url: 'ws://x',
      options: { timeoutMs: 500, token: 'env-token', form: 'query', fishPage: false },
    });
    expect(parseCommandLine(['ws://x', '--token', 'T'], { SMOKE_TOKEN: 'env' })).toMatchObject({
      options: { token: 'T' },
    });
    expect(() => parseCommandLine([])).toThrow('the server URL is missing');
    expect(() => parseCommandLine(['ws://x', '--timeout', '0'])).toThrow(UsageError);
    expect(() => parseCommandLine(['ws://x', '--form', 'both'])).toThrow(UsageError);
    expect(() => parseCommandLine(['ws://x', '--bogus'])).toThrow(UsageError);
  });
});

describe('the smoke test against the local gateway', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await quietGateway();
  });
  afterAll(() => gateway.close());

  it('passes every check through the path form', async () => {
    const { report, lines } = await smoke(gateway.wsUrl('/'));
    expectAllPassed(report, lines);
    expect(lines[0]).toMatch(/\(local gateway, path form\)/);
  });

  it('passes every check through the query form at the stage path /local', async () => {
    const { report, lines, output } = await smoke(gateway.wsUrl(`/${gateway.stage}`));
    expect(gateway.stage).toBe('local');
    expectAllPassed(report, lines);
    expect(output).toMatch(/\(local gateway, query form at \/local\)/);
  });

  it('fails naming the check and the status when the handshake is refused', async () => {
    const { report, output } = await smoke(gateway.wsUrl('/elsewhere'), {
      form: 'path',
      fishPage: false,
    });
    expect(report.ok).toBe(false);
    expect(statuses(report)).toEqual([
      ['fish page', 'skipped'],
      ['introduction', 'failed'],
      ...CHECKS.slice(2).map((name) => [name, 'not run']),
    ]);
    expect(report.failure).toMatch(
      /^check 2 \(introduction\) failed: A's introduction socket could not connect to ws:\/\/.*\/elsewhere\/introduction\/smoke-.*: handshake refused with HTTP 403/,
    );
    expect(output).toMatch(/^✗ 2\/6 introduction: .*HTTP 403/m);
    expect(output).toMatch(/^FAILED: check 2 \(introduction\)/m);
  });

  it('exits 0 as a command when every check passes', async () => {
    const { code, stdout } = await cli([gateway.wsUrl('/'), '--timeout', '10000']);
    expect(code, stdout).toBe(0);
    CHECKS.forEach((name, i) => expect(stdout).toContain(`✓ ${i + 1}/6 ${name}: `));
    expect(stdout).toMatch(/^PASSED: 6 of 6 checks passed/m);
  });
});

describe('the smoke test failing', () => {
  it('exits non-zero as a command, saying what failed, when nothing listens', async () => {
    const port = await deadPort();
    const { code, stdout } = await cli([`ws://127.0.0.1:${port}`, '--timeout', '2000']);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /^✗ 1\/6 fish page: GET http:\/\/127\.0\.0\.1:\d+\/ failed: .*ECONNREFUSED/m,
    );
    expect(stdout).toMatch(/^FAILED: check 1 \(fish page\) failed: .*ECONNREFUSED/m);
  });

  it('exits 2 with the usage when the URL is missing', async () => {
    const { code, stderr } = await cli([]);
    expect(code).toBe(2);
    expect(stderr).toContain('the server URL is missing');
    expect(stderr).toContain('Usage: npm run smoke -- <url>');
  });

  it('fails the close check when the server never closes the other side', async () => {
    // Without $disconnect the server never learns that A left, so B stays open.
    const gateway = await quietGateway({ dropDisconnects: true });
    try {
      const { report, output } = await smoke(gateway.wsUrl('/'), { timeoutMs: 3_000 });
      expect(report.ok).toBe(false);
      expect(statuses(report)).toEqual([
        ...CHECKS.slice(0, 5).map((name) => [name, 'passed']),
        ['close', 'failed'],
      ]);
      expect(report.failure).toMatch(
        /^check 6 \(close\) failed: no close of B by the server after A closed within 3000 ms/,
      );
      expect(output).toMatch(/^✗ 6\/6 close: /m);
    } finally {
      await gateway.close();
    }
  });

  it('sends the token on every socket, and fails with 401 on a wrong one without showing it', async () => {
    const gateway = await quietGateway({ access: { token: 'smoke-secret' } });
    try {
      const refused = await smoke(gateway.wsUrl('/'), { token: 'wrong-token' });
      expect(refused.report.failure).toMatch(
        /^check 2 \(introduction\) failed: .*\?token=\*\*\*: handshake refused with HTTP 401/,
      );
      expect(refused.output).not.toContain('wrong-token');
      const { report, lines } = await smoke(gateway.wsUrl('/'), { token: 'smoke-secret' });
      expectAllPassed(report, lines);
    } finally {
      await gateway.close();
    }
  });
});

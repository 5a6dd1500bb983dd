/**
 * `npm start` where it cannot serve: a port already taken, or a stage name API Gateway refuses,
 * ends with one line that says what is wrong (and how to fix it) and a non-zero exit, never a
 * stack trace.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { run, TSX } from '../support/run.js';

const npmStart = (args: string[]) => run(TSX, ['local/main.ts', ...args]);

const STACK_FRAME = /^\s+at /m;

describe('npm start refusing to start', () => {
  let holder: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (holder ? holder.close(resolve) : resolve(undefined)));
    holder = undefined;
  });

  it('says in one line that the port is in use, and exits 1', async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder!.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const { code, stdout, stderr } = await npmStart(['--port', String(port)]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr.trim().split('\n')).toEqual([
      `Port ${port} on 127.0.0.1 is in use: stop what holds it, or choose another with --port (0 = any free port).`,
    ]);
  });

  it.each([['bad stage!'], ['x'.repeat(129)], ['dev/1']])(
    'says the stage %j is not a stage name, and exits 2',
    async (stage) => {
      const { code, stderr } = await npmStart(['--port', '0', '--stage', stage]);
      expect(code).toBe(2);
      expect(stderr).not.toMatch(STACK_FRAME);
      expect(stderr.split('\n')[0]).toBe(
        `--stage: Invalid stage name ${JSON.stringify(stage)}: use 1 to 128 letters, digits, hyphens or underscores`,
      );
    },
  );
});

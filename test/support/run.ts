/**
 * A command of this repository run as a person runs it (`npx tsx …`, `node`), in a child process
 * from the repository's root: its exit code and what it printed, whether it succeeded or not.
 */
import { execFile, type ExecFileOptions } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export interface Ran {
  /** The exit code; -1 when it did not exit by itself (killed at its timeout, say). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args` from the repository's root (60 s unless told), `input` on its stdin. */
export function run(
  file: string,
  args: string[],
  options: ExecFileOptions & { input?: string } = {},
): Promise<Ran> {
  const { input, ...rest } = options;
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd: ROOT, timeout: 60_000, encoding: 'utf8', ...rest },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * The packages as an outside app meets them: packed with `npm pack` (which runs their prepack
 * build) and installed into a temporary app in the OS's temp directory, outside this repository.
 *
 * Registry packages install with --prefer-offline: from the npm cache when it has them (after
 * `npm ci` it does), from the registry otherwise. aws-cdk-lib, constructs and typescript are
 * linked from this repository's node_modules instead of copied: the app resolves them as its own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

import { ROOT } from './run.js';

export { ROOT };

/** npm's environment without what `npm test` set for this repository (its workspace, its scripts). */
function npmEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')),
  );
}

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('npm', args, {
    cwd,
    env: npmEnvironment(),
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** The version this repository's lockfile installed, for an app to install the same. */
export function installedVersion(name: string): string {
  const manifest = readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

/** A package linked from this repository's node_modules (`file:` makes npm link a directory). */
export const linked = (name: string) => `file:${join(ROOT, 'node_modules', name)}`;

/** `npm pack` (of the root, or of a workspace) into `destination`; the tarball's path. */
export async function pack(destination: string, workspace?: string): Promise<string> {
  const args = ['pack', '--json', '--pack-destination', destination];
  const out = await npm(ROOT, workspace ? [...args, '--workspace', workspace] : args);
  const [packed] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string }[];
  return join(destination, packed!.filename);
}

/** The paths inside a tarball, without npm's `package/` prefix. */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((path) => path.replace(/^package\//, ''));
}

export interface TempApp {
  readonly dir: string;
  install(...specs: string[]): Promise<void>;
  write(file: string, text: string): void;
  /** Runs a command in the app; resolves with its output, rejects with its output on failure. */
  exec(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string>;
  remove(): void;
}

/** An empty ES module app in the OS's temp directory. */
export function tempApp(name: string): TempApp {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, private: true, type: 'module' }, null, 2),
  );
  return {
    dir,
    install: async (...specs) => {
      await npm(dir, ['install', '--prefer-offline', '--no-audit', '--no-fund', ...specs]);
    },
    write: (file, text) => writeFileSync(join(dir, file), text),
    exec: async (command, args, env = {}) => {
      try {
        const { stdout, stderr } = await run(command, args, {
          cwd: dir,
          env: { ...npmEnvironment(), ...env },
          maxBuffer: 64 * 1024 * 1024,
        });
        return stdout + stderr;
      } catch (error) {
        const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
        throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}${stderr}`, {
          cause: error,
        });
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The snippets the docs copy (docs/snippets/), by file name. */
export function snippet(file: string): string {
  return readFileSync(join(ROOT, 'docs/snippets', file), 'utf8');
}

export const snippetFiles = () => readdirSync(join(ROOT, 'docs/snippets'));

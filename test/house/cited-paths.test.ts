/**
 * Every repository path that the code and the docs cite exists, so that a reader who follows one
 * finds the file. Paths are recognised by their top folder and a file ending.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const TOP = 'lambda|lib|bin|local|test|testing|bench|scripts|client|docs|edge|\\.ci';
const CITED = new RegExp(`(?<![\\w./-])((?:${TOP})/[\\w./-]*\\.(?:ts|md|js|mjs|json|guard))`, 'g');

/** Paths a test names because they must not exist (a function entry that is missing). */
const ABSENT_ON_PURPOSE = new Set(['lambda/missing.ts']);

/** The files git tracks: source, docs and configuration. */
const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((file) => /\.(ts|md|js|mjs|json)$/.test(file) && !file.endsWith('package-lock.json'));

/** Cited paths that do not exist, as `file: path`. A path may be given from the root or from `client/`. */
function missingIn(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const missing = new Set<string>();
  for (const [, path] of text.matchAll(CITED)) {
    const clean = path!.replace(/[.]+$/, '');
    if (clean.includes('*') || clean.includes('<') || ABSENT_ON_PURPOSE.has(clean)) continue;
    // Build output (`dist/`) is named by the command that makes it, not kept in a clone.
    if (/(^|\/)dist\//.test(clean)) continue;
    const candidates = [clean, join('client', clean), join(file, '..', clean)];
    if (!candidates.some((candidate) => existsSync(join(ROOT, candidate))))
      missing.add(`${file}: ${clean}`);
  }
  return [...missing];
}

describe('paths cited in the code and the docs', () => {
  it('lead to files that a clone has', () => {
    expect(tracked.length).toBeGreaterThan(100);
    expect(tracked.flatMap(missingIn)).toEqual([]);
  });
});

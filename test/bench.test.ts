/**
 * The bench cannot rot: every section of `npm run bench`, as its --help lists them, runs once in
 * its quick mode (small sizes) and must finish without an error. Nothing here times anything:
 * the figures of a quick run are not measurements.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, TSX } from './support/run.js';

/** The sections, from the bench's own usage text. */
function sections(): string[] {
  const usage = execFileSync(TSX, ['bench/main.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
  const line = /--only LIST\s+comma-separated sections: ([\w, -]+) \(default all\)/.exec(usage);
  if (!line) throw new Error(`no --only line in the bench's usage:\n${usage}`);
  return line[1]!.split(',').map((section) => section.trim());
}

const bench = (args: string[]) =>
  run(TSX, ['bench/main.ts', ...args], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });

const ALL = sections();
const dir = mkdtempSync(join(tmpdir(), 'bench-quick-'));

describe('npm run bench -- --quick', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('knows the sections it runs', () => {
    expect(ALL).toEqual(expect.arrayContaining(['relay', 'calls', 'bundles', 'fanout']));
  });

  it.each(ALL)(
    'runs the %s section to the end',
    async (section) => {
      const markdown = join(dir, `${section}.md`);
      const { code, stdout, stderr } = await bench([
        '--quick',
        '--only',
        section,
        '--markdown',
        markdown,
      ]);
      expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain(`README section written to ${markdown}`);
      expect(readFileSync(markdown, 'utf8')).toContain('--quick');
    },
    900_000,
  );
});

/**
 * The docs' code is the code the tests run: each snippet in README.md, client/README.md and
 * docs/transport.md is marked with the file it is copied from (`<!-- snippet: docs/snippets/… -->`
 * above the block) and must equal it. The package tests compile and run those files
 * (test/package/), and test/readme.test.ts runs the quick start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, snippetFiles } from './support/package.js';

const DOCS = ['README.md', 'client/README.md', 'docs/transport.md'];

interface Block {
  doc: string;
  language: string;
  code: string;
  source?: string;
}

/** Every fenced code block of a markdown file, with the snippet marker just above it, if any. */
function blocks(doc: string): Block[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  const found: Block[] = [];
  const fence = /(?:<!-- snippet: (\S+) -->\n)?```(\w*)\n([\s\S]*?)```/g;
  for (const [, source, language = '', code = ''] of text.matchAll(fence))
    found.push({ doc, language, code, ...(source ? { source } : {}) });
  return found;
}

const all = DOCS.flatMap(blocks);
const code = all.filter((block) => ['ts', 'js', 'mjs', 'html'].includes(block.language));

describe('the code in the docs', () => {
  it('comes from a snippet file for every TypeScript, JavaScript and HTML block', () => {
    expect(code.filter((block) => !block.source).map((block) => block.doc)).toEqual([]);
    expect(code.length).toBeGreaterThanOrEqual(6);
  });

  it.each(
    code.filter((block) => block.source).map((block) => [block.doc, block.source!, block] as const),
  )('%s: the block marked %s equals that file', (_doc, source, block) => {
    expect(block.code).toBe(readFileSync(join(ROOT, source), 'utf8'));
  });

  it('uses every snippet file somewhere', () => {
    const used = new Set(code.map((block) => block.source));
    expect(snippetFiles().filter((file) => !used.has(`docs/snippets/${file}`))).toEqual([]);
  });
});

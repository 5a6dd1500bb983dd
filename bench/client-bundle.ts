/**
 * The browser bundle of client/, built in memory exactly as `npm run build:client` builds it
 * (same entry and esbuild options), for the bench's size measurement and the browser test.
 */
import { build, type OutputFile } from 'esbuild';

export async function buildClientBundle(): Promise<OutputFile> {
  const result = await build({
    entryPoints: ['client/index.ts'],
    bundle: true,
    format: 'esm',
    minify: true,
    target: 'es2022',
    platform: 'neutral',
    write: false,
  });
  return result.outputFiles[0]!;
}

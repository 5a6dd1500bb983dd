/**
 * The one build of client/: the esbuild options of SignalSocket's ES module, shared by the
 * package's build (`npm run build:client`, scripts/build-client.ts), the bench's size measurement
 * and the browser test, so all three see the same bytes.
 */
import { build, type BuildOptions, type OutputFile } from 'esbuild';
import { fileURLToPath } from 'node:url';

/** One minified ES module, no Node built-ins: it runs in browsers and in Node ≥ 20 alike. */
export const CLIENT_BUNDLE = {
  entryPoints: [fileURLToPath(new URL('../client/index.ts', import.meta.url))],
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2022',
  platform: 'neutral',
} as const satisfies BuildOptions;

/** The bundle in memory. */
export async function buildClientBundle(): Promise<OutputFile> {
  const result = await build({ ...CLIENT_BUNDLE, write: false });
  return result.outputFiles[0]!;
}

/** The bundle written to `outfile` (the package's dist/index.js). */
export async function writeClientBundle(outfile: string): Promise<void> {
  await build({ ...CLIENT_BUNDLE, outfile, logLevel: 'warning' });
}

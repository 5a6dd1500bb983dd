/**
 * `npm run build:client` (the client package's `build`, run by its `prepack`): SignalSocket's
 * package output in client/dist, the ES module (testing/client-bundle.ts, the one build) and its
 * `.d.ts` types.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { writeClientBundle } from '../testing/client-bundle.js';
import { runCommand } from './cli.js';

const CLIENT = fileURLToPath(new URL('../client/', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

await runCommand('Usage: npm run build:client', async () => {
  rmSync(`${CLIENT}dist`, { recursive: true, force: true });
  await writeClientBundle(`${CLIENT}dist/index.js`);
  execFileSync(process.execPath, [TSC, '-p', `${CLIENT}tsconfig.build.json`], { stdio: 'inherit' });
  console.log(`SignalSocket built in ${CLIENT}dist`);
});

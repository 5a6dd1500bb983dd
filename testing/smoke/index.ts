/**
 * The smoke test behind `npm run smoke` (scripts/smoke.ts): checks that a signal server works,
 * from the outside, as a client sees it (docs/protocol.md). Safe against production: every
 * run uses ids and keys of its own, so it never meets a real peer, and it closes every socket it
 * opens.
 *
 * The checks (./checks.ts) run in order and stop at the first failure (later ones build on
 * earlier ones):
 *
 *   1. fish page      GET / answers 200 text/html with 🐟 (skipped for a raw API Gateway URL)
 *   2. introduction   two peers join a shared key (and one key each of their own); each is
 *                     introduced to the other with exactly the shared key
 *   3. bad input      bad frames are answered with {type:'Error'}; the socket stays usable
 *   4. held frames    A's relay socket sends 3 frames before B connects; B, which never sends,
 *                     receives them in order
 *   5. relay          frames both ways after pairing, each delivered once
 *   6. close          A closes; the server closes B
 */
import { Deadline, errorText, shown } from '../socket.js';
import { CHECKS, SmokeRun } from './checks.js';
import { resolveTarget, type TargetOptions } from './target.js';

export { resolveTarget, type Form, type Target, type TargetOptions } from './target.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface SmokeOptions extends TargetOptions {
  /** Time allowed for each check. @default 10 s */
  readonly timeoutMs?: number;
  /** Where the report lines go. @default console.log */
  readonly print?: (line: string) => void;
}

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'not run';

export interface StepReport {
  readonly step: number;
  readonly name: string;
  readonly status: StepStatus;
  /** What was seen (passed), why not (skipped), or what went wrong (failed). */
  readonly detail: string;
  readonly ms: number;
}

export interface SmokeReport {
  readonly ok: boolean;
  readonly steps: StepReport[];
  /** The failed check and what went wrong, when one failed. */
  readonly failure?: string;
}

/**
 * Runs every check against `url` and reports each as it finishes. Never throws for what the
 * server does: a failure is in the report (and its `failure`).
 */
export async function runSmoke(url: string, options: SmokeOptions = {}): Promise<SmokeReport> {
  const print = options.print ?? ((line: string) => console.log(line));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const target = resolveTarget(url, options);
  const smoke = new SmokeRun(target);
  print(
    `Smoke test of ${shown(url)} (${target.description}), run ${smoke.run}, ${timeoutMs} ms per check`,
  );
  const steps: StepReport[] = [];
  let failure: string | undefined;
  const count = CHECKS.length;
  try {
    for (const [i, check] of CHECKS.entries()) {
      const step = i + 1;
      const label = `${step}/${count} ${check.name}`;
      if (failure !== undefined) {
        steps.push({ step, name: check.name, status: 'not run', detail: '', ms: 0 });
        print(`· ${label}: not run`);
        continue;
      }
      if (check.name === 'fish page' && !target.pageUrl) {
        const detail = target.pageSkipped ?? 'skipped';
        steps.push({ step, name: check.name, status: 'skipped', detail, ms: 0 });
        print(`- ${label}: ${detail}`);
        continue;
      }
      const started = Date.now();
      try {
        const detail = await check.run(smoke, new Deadline(timeoutMs));
        const ms = Date.now() - started;
        steps.push({ step, name: check.name, status: 'passed', detail, ms });
        print(`✓ ${label}: ${detail} (${ms} ms)`);
      } catch (error) {
        const ms = Date.now() - started;
        const detail = errorText(error);
        steps.push({ step, name: check.name, status: 'failed', detail, ms });
        print(`✗ ${label}: ${detail} (${ms} ms)`);
        failure = `check ${step} (${check.name}) failed: ${detail}`;
      }
    }
  } finally {
    await smoke.closeAll();
  }
  const total = steps.reduce((sum, step) => sum + step.ms, 0);
  if (failure === undefined) {
    const passed = steps.filter((step) => step.status === 'passed').length;
    print(`PASSED: ${passed} of ${count} checks passed (${total} ms)`);
    return { ok: true, steps };
  }
  print(`FAILED: ${failure}`);
  return { ok: false, steps, failure };
}

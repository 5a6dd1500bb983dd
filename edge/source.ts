/**
 * What the stack deploys at the edge: edge/rewrite.js (a CloudFront Function) with the stage
 * substituted and minified by esbuild ({@link edgeFunctionCode}). lib/edge-front-door.ts deploys
 * it; the local gateway and the unit tests run the same code in local/edge-runtime.ts. One
 * source file, one substitution.
 */
import { readFileSync } from 'node:fs';
import { transformSync } from 'esbuild';
import { STAGE_NAME } from '../lib/props.js';

/** The placeholder in edge/rewrite.js that the stage path replaces. */
export const STAGE_PLACEHOLDER = "'/__STAGE__'";

/** Where the CloudFront Function's source lives. */
export const REWRITE_SOURCE_PATH = new URL('./rewrite.js', import.meta.url);

/** CloudFront's limit on a function's code size, in bytes. */
export const MAX_FUNCTION_CODE_BYTES = 10 * 1024;

/**
 * This project's own ceiling for the deployed (minified) code: well under CloudFront's limit, so
 * the function can grow without a deploy failing on size.
 */
export const EDGE_CODE_BUDGET_BYTES = 6 * 1024;

/**
 * The source of edge/rewrite.js with the stage substituted: the exact code CloudFront runs.
 * @param stageName the API Gateway stage name, e.g. `dev` (the stage path is `/dev`).
 */
export function rewriteSource(stageName: string): string {
  if (!STAGE_NAME.test(stageName)) {
    throw new Error(
      `Invalid stage name ${JSON.stringify(stageName)}: use 1 to 128 letters, digits, hyphens or underscores`,
    );
  }
  const source = readFileSync(REWRITE_SOURCE_PATH, 'utf8');
  const parts = source.split(STAGE_PLACEHOLDER);
  if (parts.length !== 2) {
    throw new Error(`edge/rewrite.js must contain ${STAGE_PLACEHOLDER} exactly once`);
  }
  return parts.join(`'/${stageName}'`);
}

/**
 * The code CloudFront runs for a stage: {@link rewriteSource} minified by esbuild. Minifying keeps
 * top-level names (`handler` among them: a script's globals are never renamed) and the ES5
 * syntax of the source, whose comments and long names would otherwise count against
 * CloudFront's size limit.
 * @param stageName the API Gateway stage name, e.g. `dev` (the stage path is `/dev`).
 */
export function edgeFunctionCode(stageName: string): string {
  const { code } = transformSync(rewriteSource(stageName), {
    minify: true,
    target: 'es5',
    legalComments: 'none',
    charset: 'ascii',
  });
  return code.trimEnd();
}

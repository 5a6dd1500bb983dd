/**
 * `npm run brake -- release -c stage=prod`: releases a stage's brake (restores the stage's
 * throttles and the functions' reserved concurrency as deployed), or `apply` puts it on by hand.
 * It invokes the stage's brake function, which knows what the template deployed; credentials
 * and region are the AWS SDK's usual ones (AWS_PROFILE, AWS_REGION, ...).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { parseStage } from '../bin/config.js';
import { brakeFunctionName } from '../lambda/core/brake.js';
import { isMain, readCommandLine, runCommand, UsageError } from './cli.js';

const USAGE = `Usage: npm run brake -- release|apply -c stage=NAME

  release   restore the stage's throttles and reserved concurrency as deployed
  apply     throttle the stage near zero and stop $default and $connect now
  -c stage=NAME   the stage (as for cdk: dev, prod)
  -h, --help      show this help
`;

export interface BrakeCommand {
  readonly action: 'release' | 'apply';
  readonly functionName: string;
}

/** Reads `release|apply -c stage=NAME`; a UsageError for anything else. */
export function parseBrakeCommand(argv: string[]): BrakeCommand & { help: boolean } {
  const { values, positionals } = readCommandLine(
    argv,
    { context: { type: 'string', short: 'c', multiple: true } },
    { positionals: true },
  );
  if (values.help) return { help: true, action: 'release', functionName: '' };
  const [action, ...extra] = positionals;
  if ((action !== 'release' && action !== 'apply') || extra.length > 0)
    throw new UsageError('Say release or apply, once');
  const stage = (values.context ?? [])
    .map((entry) => /^stage=(.*)$/.exec(entry)?.[1])
    .find((value) => value !== undefined);
  if (stage === undefined) throw new UsageError('Name the stage with -c stage=NAME');
  try {
    return { help: false, action, functionName: brakeFunctionName(parseStage(stage)) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Invokes the brake function and returns what it did; throws with the function's error. */
export async function runBrakeCommand(
  command: BrakeCommand,
  lambda: LambdaClient,
): Promise<string> {
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: command.functionName,
      Payload: new TextEncoder().encode(JSON.stringify({ action: command.action })),
    }),
  );
  const payload = new TextDecoder().decode(result.Payload ?? new Uint8Array());
  if (result.FunctionError)
    throw new Error(`${command.functionName} failed (${result.FunctionError}): ${payload}`);
  return payload;
}

if (isMain(import.meta.url)) {
  await runCommand(USAGE, async () => {
    const command = parseBrakeCommand(process.argv.slice(2));
    if (command.help) {
      console.log(USAGE);
      return;
    }
    console.log(await runBrakeCommand(command, new LambdaClient({})));
  });
}

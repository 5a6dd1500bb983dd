import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../scripts/cli.js';
import { parseBrakeCommand, runBrakeCommand } from '../../scripts/brake.js';

describe('npm run brake', () => {
  it('releases the named stage’s brake by invoking its brake function', async () => {
    const client = new LambdaClient({ region: 'eu-west-1' });
    const lambda = mockClient(client);
    const answer = { action: 'released', detail: 'restored stage prod' };
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: new TextEncoder().encode(JSON.stringify(answer)) as never,
    });

    const command = parseBrakeCommand(['release', '-c', 'stage=prod']);
    expect(command).toEqual({
      help: false,
      action: 'release',
      functionName: 'cevitxe-signal-prod-brake',
    });
    expect(JSON.parse(await runBrakeCommand(command, client))).toEqual(answer);
    const [input] = lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input);
    expect(input?.FunctionName).toBe('cevitxe-signal-prod-brake');
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({
      action: 'release',
    });
  });

  it('fails with the function’s error when the release fails', async () => {
    const client = new LambdaClient({ region: 'eu-west-1' });
    mockClient(client)
      .on(InvokeCommand)
      .resolves({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: new TextEncoder().encode('{"errorMessage":"AccessDenied"}') as never,
      });
    await expect(
      runBrakeCommand({ action: 'release', functionName: 'cevitxe-signal-dev-brake' }, client),
    ).rejects.toThrow(/cevitxe-signal-dev-brake failed \(Unhandled\).*AccessDenied/);
  });

  it('refuses a missing or unknown stage and any other action', () => {
    expect(() => parseBrakeCommand(['release'])).toThrow(UsageError);
    expect(() => parseBrakeCommand(['release', '-c', 'stage=staging'])).toThrow(/Unknown stage/);
    expect(() => parseBrakeCommand(['stop', '-c', 'stage=dev'])).toThrow(/release or apply/);
    expect(parseBrakeCommand(['apply', '-c', 'stage=dev']).action).toBe('apply');
  });
});

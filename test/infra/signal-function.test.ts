// The SignalFunction construct on its own: its timeout limits and defaults. How the server's four
// functions use it is in signal-server.test.ts, its bundles in bundle.test.ts.
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SignalFunction } from '../../lib/signal-function.js';
import { appWithoutBundling } from '../support/stacks.js';

describe('SignalFunction', () => {
  const make = (props: Partial<ConstructorParameters<typeof SignalFunction>[2]>) =>
    new SignalFunction(new Stack(appWithoutBundling(), 'S'), 'Fn', {
      entry: 'lambda/default.ts',
      ...props,
    });

  it('refuses a route function timeout above API Gateway’s 29 s', () => {
    expect(() => make({ timeout: Duration.seconds(30) })).toThrow(/exceeds 29 s/);
    expect(() => make({ timeout: Duration.seconds(29) })).not.toThrow();
  });

  it('lets a function no route waits on run longer, up to Lambda’s 15 minutes', () => {
    expect(() => make({ apiRoute: false, timeout: Duration.seconds(60) })).not.toThrow();
    expect(() => make({ apiRoute: false, timeout: Duration.minutes(16) })).toThrow(/exceeds 900 s/);
  });

  it('names both the missing entry and the missing prebundled bundle when neither exists', () => {
    expect(() => make({ entry: 'lambda/missing.ts' })).toThrow(
      /SignalFunction Fn: no entry \S*lambda\/missing\.ts, and no prebundled \S*lambda\/missing\/index\.mjs/,
    );
  });

  it('defaults to a 10 s timeout and 256 MB', () => {
    const fn = make({});
    Template.fromStack(Stack.of(fn)).hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 10,
      MemorySize: 256,
    });
  });
});

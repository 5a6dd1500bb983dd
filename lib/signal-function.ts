import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnResource, Duration, Lazy, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import {
  NodejsFunction,
  OutputFormat,
  type NodejsFunctionProps,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * The repository root: the directory holding package.json, package-lock.json and lambda/. In the
 * published package (built into dist/), dist/: there lambda/ holds the prebundled entries.
 */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Where the package build puts an entry's bundle (index.mjs and its source map), under
 * PROJECT_ROOT: `lambda/connect.ts` → `lambda/connect/`.
 */
export function prebundledDir(entry: string): string {
  return entry.replace(/\.ts$/, '');
}

/** API Gateway's integration timeout: a route's function must answer within it. */
export const ROUTE_TIMEOUT_LIMIT = Duration.seconds(29);

/** Lambda's own ceiling, for functions that no API route waits on. */
export const BACKGROUND_TIMEOUT_LIMIT = Duration.minutes(15);

/**
 * ESM bundles have no `require`; some CommonJS code inside dependencies still calls it.
 * This banner gives the bundle one, bound to the bundle's own location.
 */
const REQUIRE_BANNER =
  "import { createRequire as __signalCreateRequire } from 'node:module'; const require = __signalCreateRequire(import.meta.url);";

/** Properties of a {@link SignalFunction}. */
export interface SignalFunctionProps {
  /** Path of the TypeScript entry file; it must export `handler`. Relative paths resolve against the project root. */
  readonly entry: string;

  /**
   * Whether API Gateway invokes this function for a WebSocket route and waits for its answer.
   * Route functions must finish within API Gateway's 29 s integration timeout; others
   * (asynchronous workers) may run up to Lambda's 15 minutes.
   * @default true
   */
  readonly apiRoute?: boolean;

  /**
   * How long one invocation may run.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;

  /**
   * Memory in MB (also buys CPU).
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * Environment variables, merged over `NODE_OPTIONS=--enable-source-maps`.
   * @default - only NODE_OPTIONS
   */
  readonly environment?: Readonly<Record<string, string>>;

  /**
   * How long the function's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * A description shown in the Lambda console.
   * @default - none
   */
  readonly description?: string;
}

/**
 * The Lambda runtime of every SignalFunction: the newest Node.js that Lambda and this CDK version
 * offer (cdk-nag's AwsSolutions-L1 holds us to it), and the esbuild target that matches it.
 */
export const SIGNAL_RUNTIME = { runtime: Runtime.NODEJS_24_X, esbuildTarget: 'node24' } as const;

/**
 * A Node.js Lambda function with this project's defaults: Node.js 24 on ARM_64, bundled by the
 * project's own esbuild (never Docker) into a minified ES module with source maps and the AWS SDK
 * included, a timeout within API Gateway's limit for route functions, an explicit log group with
 * a retention period, and a role of its own that may write to that log group only (grants add
 * the rest).
 */
export class SignalFunction extends NodejsFunction {
  /** The entry as given: the package build prebundles each one under {@link prebundledDir}. */
  public readonly entry: string;

  constructor(scope: Construct, id: string, props: SignalFunctionProps) {
    const apiRoute = props.apiRoute ?? true;
    const timeout = props.timeout ?? Duration.seconds(10);
    const limit = apiRoute ? ROUTE_TIMEOUT_LIMIT : BACKGROUND_TIMEOUT_LIMIT;
    if (!Token.isUnresolved(timeout.toSeconds()) && timeout.toSeconds() > limit.toSeconds()) {
      throw new Error(
        `SignalFunction ${id}: timeout ${timeout.toSeconds()} s exceeds ${limit.toSeconds()} s` +
          (apiRoute ? " (API Gateway's integration timeout for route functions)" : ''),
      );
    }

    // An explicit log group (not the deprecated `logRetention` custom resource) so retention and
    // removal are plain CloudFormation. Created in the parent scope: `this` exists only after super().
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // Not AWSLambdaBasicExecutionRole, whose logs permissions reach every log group in the
    // account: this role may create streams and put events in the function's own group only.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${id}: its own log group, plus what grants add`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      ...bundled(id, props.entry),
      description: props.description,
      runtime: SIGNAL_RUNTIME.runtime,
      architecture: Architecture.ARM_64,
      timeout,
      memorySize: props.memorySize ?? 256,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      logGroup,
      role,
    });

    this.entry = props.entry;
    this.dependOnRolePoliciesOnly(role);
  }

  /**
   * Lambda makes the function depend on its whole role: the role's policies, which must exist
   * before the function runs, and the role itself, which the `Role` GetAtt already orders (and
   * cfn-lint flags as W3005). Every dependency but the role stays, read at synth once every
   * grant is made.
   */
  private dependOnRolePoliciesOnly(role: Role): void {
    const resource = this.node.defaultChild as CfnResource;
    const roleResource = role.node.defaultChild;
    resource.addOverride(
      'DependsOn',
      Lazy.list({
        produce: () => {
          const stack = Stack.of(this);
          const ids = [...resource.node.dependencies, ...this.node.dependencies]
            .flatMap((dependency) => dependency.node.findAll())
            .filter(
              (child): child is CfnResource =>
                child instanceof CfnResource &&
                child !== roleResource &&
                child !== resource &&
                Stack.of(child) === stack,
            )
            .map((child) => stack.resolve(child.logicalId) as string);
          return [...new Set(ids)].sort();
        },
      }),
    );
  }
}

/**
 * How a function gets its code: bundled from the entry's source by the project's esbuild (in a
 * checkout), or, where only the package is installed, the bundle the package build made from
 * that source with these same options.
 */
function bundled(id: string, entry: string): Partial<NodejsFunctionProps> {
  const source = resolve(PROJECT_ROOT, entry);
  if (existsSync(source))
    return {
      entry: source,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: SIGNAL_RUNTIME.esbuildTarget,
        // Prefer the ES module builds of dependencies (the AWS SDK ships both).
        mainFields: ['module', 'main'],
        banner: REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle the AWS SDK too: a pinned, tree-shaken SDK instead of whatever the runtime ships.
        externalModules: [],
        forceDockerBundling: false,
      },
    };
  const prebundled = resolve(PROJECT_ROOT, prebundledDir(entry));
  if (existsSync(resolve(prebundled, 'index.mjs')))
    return { code: Code.fromAsset(prebundled), handler: 'index.handler' };
  throw new Error(
    `SignalFunction ${id}: no entry ${source}, and no prebundled ${prebundled}/index.mjs`,
  );
}

/**
 * The inputs of the abuse model, read from each stage's synthesized template (no bundling): the
 * stage and $connect throttles, reserved concurrency and memory, the table's maximums, the
 * brake's threshold and throttle, and the protocol limits the functions get in `LIMITS`.
 */
import { App } from 'aws-cdk-lib';
import { signalStackProps, STAGES, type StageName } from '../bin/config.js';
import type { Limits } from '../lambda/core/limits.js';
import { SignalStack } from '../lib/signal-stack.js';

export interface StageCaps {
  readonly stage: StageName;
  readonly stageRate: number;
  readonly connectRate: number;
  /** Reserved concurrency by function (connect, default, disconnect, deliver); undefined: none. */
  readonly reserved: Readonly<Record<string, number | undefined>>;
  readonly memoryGb: number;
  readonly maxReadUnits: number;
  readonly maxWriteUnits: number;
  readonly brakeThresholdPerMinute: number;
  readonly brakeMinutes: number;
  readonly brakedRate: number;
  readonly limits: Limits;
}

type Resource = { Type: string; Properties: Record<string, unknown> };
type Throttle = { ThrottlingRateLimit: number };
interface StageJson {
  DefaultRouteSettings: Throttle;
  RouteSettings: { $connect: Throttle };
}
interface TableJson {
  Replicas: { ReadOnDemandThroughputSettings: { MaxReadRequestUnits: number } }[];
  WriteOnDemandThroughputSettings: { MaxWriteRequestUnits: number };
}
interface FunctionJson {
  ReservedConcurrentExecutions?: number;
  MemorySize: number;
  Environment: { Variables: Record<string, unknown> };
}

/** Synthesizes `stage` as bin/app.ts does, without bundling, and reads its caps. */
export function readStageCaps(stage: StageName): StageCaps {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const props = signalStackProps(stage);
  const stack = new SignalStack(app, props.stackName, props);
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, Resource>;
  };
  const byId = (construct: { node: { defaultChild?: unknown } }) =>
    template.Resources[stack.getLogicalId(construct.node.defaultChild as never)]!.Properties;
  const of = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
  const stageProps = of('AWS::ApiGatewayV2::Stage')[0]!.Properties as unknown as StageJson;
  const table = of('AWS::DynamoDB::GlobalTable')[0]!.Properties as unknown as TableJson;
  const alarm = byId(stack.brake.alarm) as { Threshold: number; EvaluationPeriods: number };
  const fnOf = (fn: { node: { defaultChild?: unknown } }) => byId(fn) as unknown as FunctionJson;
  const server = stack.server;
  const functions = {
    connect: server.connectFunction,
    default: server.defaultFunction,
    disconnect: server.disconnectFunction,
    deliver: server.deliverFunction,
  };
  const defaultFn = fnOf(server.defaultFunction);
  return {
    stage,
    stageRate: stageProps.DefaultRouteSettings.ThrottlingRateLimit,
    connectRate: stageProps.RouteSettings.$connect.ThrottlingRateLimit,
    reserved: Object.fromEntries(
      Object.entries(functions).map(([name, fn]) => [name, fnOf(fn).ReservedConcurrentExecutions]),
    ),
    memoryGb: defaultFn.MemorySize / 1024,
    maxReadUnits: table.Replicas[0]!.ReadOnDemandThroughputSettings.MaxReadRequestUnits,
    maxWriteUnits: table.WriteOnDemandThroughputSettings.MaxWriteRequestUnits,
    brakeThresholdPerMinute: alarm.Threshold,
    brakeMinutes: alarm.EvaluationPeriods,
    brakedRate: brakedRateOf(fnOf(stack.brake.function)),
    limits: JSON.parse(String(defaultFn.Environment.Variables.LIMITS)) as Limits,
  };
}

/** The braked throttle's rate, from the brake function's configuration (its literal parts). */
function brakedRateOf(fn: FunctionJson): number {
  const config = fn.Environment.Variables.BRAKE_CONFIG as { 'Fn::Join': [string, unknown[]] };
  const joined = config['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : 'X'))
    .join('');
  const match = /"brakedThrottle":\{"rateLimit":([\d.]+)/.exec(joined);
  if (!match) throw new Error('the brake function has no brakedThrottle');
  return Number(match[1]);
}

/** Every stage's caps. */
export function readAllStageCaps(): StageCaps[] {
  return (Object.keys(STAGES) as StageName[]).map(readStageCaps);
}

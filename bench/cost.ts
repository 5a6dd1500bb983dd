/**
 * The cost model: what an operation costs, from its measured calls and capacity units and the
 * price table (prices.ts), under assumptions stated here and printed with the figures.
 */
import { MODEL_JOIN, type OperationResult, type OperationsRun } from '../testing/operations.js';
import { PRICES } from './prices.js';

export interface CostAssumptions {
  /** Lambda memory (MB): the prod stage's, from bin/config.ts. */
  readonly memoryMb: number;
  /** Lambda time per AWS call, all calls taken one after another (in-region round trip). */
  readonly msPerAwsCall: number;
  /** Lambda time per invocation besides its AWS calls (parsing, logging, the runtime). */
  readonly msPerInvocation: number;
  /** Relay sockets a peer keeps open (one per peer it syncs with), besides its introduction socket. */
  readonly relaySockets: number;
  /** Frames a peer sends per minute on each relay socket. */
  readonly framesPerMinute: number;
}

export const DEFAULT_ASSUMPTIONS: Omit<CostAssumptions, 'memoryMb'> = {
  msPerAwsCall: 10,
  msPerInvocation: 3,
  relaySockets: 2,
  framesPerMinute: 30,
};

/** The billable quantities of some work. */
export interface Bill {
  messages: number;
  connectionMinutes: number;
  lambdaRequests: number;
  gbSeconds: number;
  readUnits: number;
  writeUnits: number;
}

const ZERO: Bill = {
  messages: 0,
  connectionMinutes: 0,
  lambdaRequests: 0,
  gbSeconds: 0,
  readUnits: 0,
  writeUnits: 0,
};

export function add(...bills: Bill[]): Bill {
  const out = { ...ZERO };
  for (const bill of bills)
    for (const key of Object.keys(out) as (keyof Bill)[]) out[key] += bill[key];
  return out;
}

export function scale(bill: Bill, factor: number): Bill {
  const out = { ...bill };
  for (const key of Object.keys(out) as (keyof Bill)[]) out[key] *= factor;
  return out;
}

/** Dollars per billable item. */
export function price(bill: Bill): Record<keyof Bill, number> & { total: number } {
  const items = {
    messages: bill.messages * PRICES.webSocketMessage,
    connectionMinutes: bill.connectionMinutes * PRICES.connectionMinute,
    lambdaRequests: bill.lambdaRequests * PRICES.lambdaRequest,
    gbSeconds: bill.gbSeconds * PRICES.lambdaArmGbSecond,
    readUnits: bill.readUnits * PRICES.dynamoDbReadUnit,
    writeUnits: bill.writeUnits * PRICES.dynamoDbWriteUnit,
  };
  return { ...items, total: Object.values(items).reduce((sum, n) => sum + n, 0) };
}

/**
 * One operation's bill: a message in per $default invocation (the client's frame), a message
 * out per PostToConnection that succeeded, a Lambda request per handler invocation, its time as
 * assumed, and the capacity units DynamoDB reported.
 */
export function billOf(op: OperationResult, assumptions: CostAssumptions): Bill {
  const invocations = Object.values(op.invocations).reduce((sum, n) => sum + (n ?? 0), 0);
  const posts = op.measured.get('@connections PostToConnection');
  const postsFailed = Object.values(posts?.failed ?? {}).reduce((sum, n) => sum + n, 0);
  const seconds =
    (invocations * assumptions.msPerInvocation + op.calls * assumptions.msPerAwsCall) / 1000;
  let readUnits = 0;
  let writeUnits = 0;
  for (const stats of op.measured.values()) {
    readUnits += stats.readUnits;
    writeUnits += stats.writeUnits;
  }
  return {
    messages: (op.invocations.$default ?? 0) + (posts?.calls ?? 0) - postsFailed,
    connectionMinutes: 0,
    lambdaRequests: invocations,
    gbSeconds: (assumptions.memoryMb / 1024) * seconds,
    readUnits,
    writeUnits,
  };
}

export interface CostModel {
  assumptions: CostAssumptions;
  perMillionFrames: Bill;
  perPeerHour: Bill;
  /** The peer-hour's parts, for the printout. */
  peerHourParts: { name: string; bill: Bill }[];
}

export function costModel(ops: OperationsRun, assumptions: CostAssumptions): CostModel {
  const bill = (id: string) => billOf(ops.byId(id), assumptions);
  const perMillionFrames = scale(bill('steadyFrame'), 1e6);

  const framesPerSocket = assumptions.framesPerMinute * 60;
  const introduction = add(
    bill('introductionConnect'),
    bill(`join:${MODEL_JOIN.k}:${MODEL_JOIN.m}`),
    bill('introductionDisconnect'),
    { ...ZERO, connectionMinutes: 60 },
  );
  // A pair's opening and closing are shared by its two peers: half each.
  const relaySocket = add(
    scale(add(bill('relayWaits'), bill('pairing'), bill('relayDisconnect')), 0.5),
    bill('firstFrame'),
    scale(bill('steadyFrame'), Math.max(0, framesPerSocket - 1)),
    { ...ZERO, connectionMinutes: 60 },
  );
  const relays = scale(relaySocket, assumptions.relaySockets);
  return {
    assumptions,
    perMillionFrames,
    perPeerHour: add(introduction, relays),
    peerHourParts: [
      {
        name: `introduction socket: $connect, a Join of ${MODEL_JOIN.k} keys meeting ${MODEL_JOIN.m} peers, $disconnect, 60 min`,
        bill: introduction,
      },
      {
        name: `${assumptions.relaySockets} relay sockets: half a pairing and a pair's close each, ${framesPerSocket} frames sent each, 60 min each`,
        bill: relays,
      },
    ],
  };
}

/**
 * "The worst hour under abuse": what one anonymous attacker can cost a stage, in dollars per hour,
 * per attack, with and without the brake, from the caps in the synthesized templates
 * (abuse-inputs.ts), the code's limits and the prices (prices.ts). A model, not a measurement:
 * its assumptions are stated here and printed with the figures.
 */
import { DEFAULT_ASSUMPTIONS } from './cost.js';
import { EGRESS_PER_GB, PRICES } from './prices.js';
import type { StageCaps } from './abuse-inputs.js';

/** Account quotas (docs/performance.md, "Capacity of one stage"). */
export const ACCOUNT = {
  requestsPerSecond: 10_000,
  concurrency: 1_000,
  newConnectionsPerSecond: 500,
};
const FRAME_BYTES = 32 * 1024;
const MS_CALL = DEFAULT_ASSUMPTIONS.msPerAwsCall;
const MS_INVOCATION = DEFAULT_ASSUMPTIONS.msPerInvocation;
/** A request DynamoDB throttles costs the SDK's retries with back-off before it fails. */
const MS_THROTTLED = 500;
/** The brake's alarm fires after its periods, plus a minute for the metric to arrive. */
const TRIP_MINUTES = 5;
/** Connections are kept open (pings are free) until API Gateway cuts them at two hours. */
const CONNECTION_MINUTES = 120;

/** Inbound rates an attacker chooses, per second. */
export interface Attack {
  relay: number;
  held: number;
  join: number;
  connect: number;
}

export const ATTACKS: Record<string, (caps: StageCaps) => Attack> = {
  'relay flood (32 KB frames through its own pair)': (c) => ({
    relay: c.stageRate,
    held: 0,
    join: 0,
    connect: 0,
  }),
  'held-frame flood (32 KB frames to unpaired sockets)': (c) => ({
    relay: 0,
    held: c.stageRate,
    join: 0,
    connect: 0,
  }),
  'Join flood (its own peers on one key)': (c) => ({
    relay: 0,
    held: 0,
    join: c.stageRate,
    connect: 0,
  }),
  'connection flood': (c) => ({ relay: 0, held: 0, join: 0, connect: c.connectRate }),
};

interface Hour {
  dollars: number;
  messagesPerMinute: number;
}

/** The dollars of one sustained hour of `attack` on a stage with `caps` (`braked`: after the brake). */
export function hourOf(caps: StageCaps, attack: Attack, braked = false): Hour {
  const { limits } = caps;
  const stageRate = braked ? caps.brakedRate : caps.stageRate;
  const scale = Math.min(1, stageRate / Math.max(1e-9, attack.relay + attack.held + attack.join));
  const framesPerSocket = Math.max(
    1,
    Math.min(limits.maxHeldFrames, Math.floor(limits.maxHeldBytes / FRAME_BYTES)),
  );
  const connectRate = Math.min(
    braked ? caps.brakedRate : caps.connectRate,
    ACCOUNT.newConnectionsPerSecond,
  );
  let held = attack.held * scale;
  const heldSockets = Math.min(held / framesPerSocket, connectRate);
  held = Math.min(held, heldSockets * framesPerSocket);
  const relay = attack.relay * scale;
  const joins = attack.join * scale;
  const connects = Math.min(attack.connect, connectRate - heldSockets);
  const inbound = relay + held + joins;

  // A Join introduces its peer to up to maxFanOut others, both ways. The attacker holds enough
  // sockets that every Join could introduce (a re-introduction window per peer id does not
  // bound that), so only the stage's introduction budget does: a Join it cannot serve is
  // answered with an Error frame and its socket is closed. Each deferred Join so costs the
  // attacker a socket, and new sockets come at the $connect throttle; its other messages
  // (Leaves, Joins within a peer's window) post nothing.
  const fanOut = limits.maxFanOut;
  const introduced = Math.min(joins, limits.introductionPostsPerMinute / 60 / (2 * fanOut));
  const deferred = Math.min(joins - introduced, Math.max(0, connectRate - heldSockets - connects));
  const unposted = joins - introduced - deferred;
  const postsWanted = relay + introduced * 2 * fanOut + deferred;
  const postsRoom = Math.max(0, ACCOUNT.requestsPerSecond - inbound - connects);
  const postShare = Math.min(1, postsRoom / Math.max(1e-9, postsWanted));

  // An introducing Join writes its peer record, its key's index entry and the budget, reads the
  // socket and peer records and queries the key (1,000 index entries are about 25 units); an
  // introduced one then reads its peers, a deferred one's socket closes ($disconnect: three
  // deletes). A message that posts nothing reads two records and writes two (a Leave).
  const introducing = introduced + deferred;
  const writesWanted =
    held * 34 + introducing * 3 + deferred * 3 + unposted * 2 + (connects + heldSockets) * 4;
  const writeShare = Math.min(1, caps.maxWriteUnits / Math.max(1e-9, writesWanted));
  const readsWanted = held + introducing * (2 + fanOut / 40) + introduced * fanOut + unposted * 2;

  // $default: seconds of Lambda per second, then the concurrency the stage lets it have.
  const joinMs = 6 * MS_CALL + Math.ceil((2 * fanOut) / 64) * MS_CALL;
  const defaultWanted =
    (relay * (MS_INVOCATION + MS_CALL) +
      held * (MS_INVOCATION + (writeShare * 3 * MS_CALL + (1 - writeShare) * MS_THROTTLED)) +
      introduced * joinMs +
      deferred * (MS_INVOCATION + 7 * MS_CALL) +
      unposted * (MS_INVOCATION + 4 * MS_CALL)) /
    1000;
  const defaultCap = braked ? 0 : (caps.reserved.default ?? ACCOUNT.concurrency);
  const served = Math.min(1, defaultCap / Math.max(1e-9, defaultWanted));
  const connectCap = braked ? 0 : (caps.reserved.connect ?? ACCOUNT.concurrency);
  const connectWanted =
    ((connects + heldSockets + deferred) * (MS_INVOCATION + 2 * MS_CALL)) / 1000;
  const connectServed = Math.min(1, connectCap / Math.max(1e-9, connectWanted));

  const posts = postsWanted * postShare * served;
  const perSecond = {
    messages: inbound + posts,
    lambdaRequests: inbound * served + 2 * (connects + heldSockets + deferred) * connectServed,
    gbSeconds:
      (Math.min(defaultWanted, defaultCap) + 2 * Math.min(connectWanted, connectCap)) *
      caps.memoryGb,
    writeUnits: Math.min(writesWanted * served, caps.maxWriteUnits),
    readUnits: Math.min(readsWanted * served, caps.maxReadUnits),
    egressGb:
      (relay * postShare * served * FRAME_BYTES + introduced * 2 * fanOut * 200 * served) / 1e9,
  };
  const connectionMinutes = (connects + heldSockets) * connectServed * 3600 * CONNECTION_MINUTES;
  const dollars =
    3600 *
      (perSecond.messages * PRICES.webSocketMessage +
        perSecond.lambdaRequests * PRICES.lambdaRequest +
        perSecond.gbSeconds * PRICES.lambdaArmGbSecond +
        perSecond.writeUnits * PRICES.dynamoDbWriteUnit +
        perSecond.readUnits * PRICES.dynamoDbReadUnit +
        perSecond.egressGb * EGRESS_PER_GB) +
    connectionMinutes * PRICES.connectionMinute;
  return { dollars, messagesPerMinute: perSecond.messages * 60 };
}

/** A one-hour attack with the brake: full cost until it trips, the braked rate after. */
export function hourWithBrake(
  caps: StageCaps,
  attack: Attack,
): { dollars: number; trips: boolean } {
  const open = hourOf(caps, attack);
  if (open.messagesPerMinute <= caps.brakeThresholdPerMinute)
    return { dollars: open.dollars, trips: false };
  const after = hourOf(caps, attack, true).dollars;
  // Conservative: the minutes before it trips are billed at the steady state's rate.
  return {
    dollars: (open.dollars * TRIP_MINUTES) / 60 + (after * (60 - TRIP_MINUTES)) / 60,
    trips: true,
  };
}

/** The costliest mix of every attack at once, sharing the stage throttle (a grid search). */
export function allAtOnce(caps: StageCaps, steps: number, withBrake: boolean): number {
  let worst = 0;
  for (let a = 0; a <= steps; a++)
    for (let b = 0; a + b <= steps; b++) {
      const attack: Attack = {
        relay: (caps.stageRate * a) / steps,
        held: (caps.stageRate * b) / steps,
        join: (caps.stageRate * (steps - a - b)) / steps,
        connect: caps.connectRate,
      };
      const dollars = withBrake
        ? hourWithBrake(caps, attack).dollars
        : hourOf(caps, attack).dollars;
      worst = Math.max(worst, dollars);
    }
  return worst;
}

export const ASSUMPTIONS = [
  `Lambda: ${MS_INVOCATION} ms an invocation plus ${MS_CALL} ms an AWS call (bench/cost.ts), ${MS_THROTTLED} ms for a write DynamoDB throttles; 64 posts in flight per Join`,
  `connections kept open with free pings until the 2-hour cut (${CONNECTION_MINUTES} min each); sustained hours are the steady state`,
  `the brake trips ${TRIP_MINUTES} minutes into an attack whose messages a minute exceed its threshold; a held 32 KB frame writes 34 units`,
  `account quotas: ${ACCOUNT.requestsPerSecond} requests/s (inbound and posts), ${ACCOUNT.concurrency} concurrent executions, ${ACCOUNT.newConnectionsPerSecond} new connections/s; egress $${EGRESS_PER_GB}/GB`,
];

/** The section's rows and targets, as lines of text. */
export function abuseReport(
  stages: StageCaps[],
  quick: boolean,
): { lines: string[]; targets: [boolean, string][] } {
  const steps = quick ? 4 : 20;
  const cell = (n: number) => `$${n.toFixed(2)}`;
  const header = `| one hour of | ${stages.flatMap((s) => [`${s.stage}, brake off`, `${s.stage}, with brake`]).join(' | ')} |`;
  const lines = [header, `|---|${stages.map(() => '---:|---:|').join('')}`];
  for (const [name, make] of Object.entries(ATTACKS)) {
    const cells = stages.flatMap((caps) => {
      const attack = make(caps);
      const braked = hourWithBrake(caps, attack);
      return [
        cell(hourOf(caps, attack).dollars),
        `${cell(braked.dollars)}${braked.trips ? '' : ' (no trip)'}`,
      ];
    });
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  const all = stages.map((caps) => ({
    caps,
    off: allAtOnce(caps, steps, false),
    on: allAtOnce(caps, steps, true),
  }));
  lines.push(
    `| all at once (worst mix) | ${all.flatMap(({ off, on }) => [cell(off), cell(on)]).join(' | ')} |`,
  );
  const at = (stage: string) => all.find(({ caps }) => caps.stage === stage);
  const targets: [boolean, string][] = [];
  const prod = at('prod');
  const dev = at('dev');
  if (prod) {
    targets.push([
      prod.off <= 30,
      `prod, all at once, brake off: ${cell(prod.off)} an hour (target $30)`,
    ]);
    targets.push([
      prod.on <= 8,
      `prod, a one-hour attack with the brake: ${cell(prod.on)} (target $8)`,
    ]);
  }
  if (dev)
    targets.push([
      dev.off <= 3,
      `dev, all at once, brake off: ${cell(dev.off)} an hour (target $3)`,
    ]);
  return { lines, targets };
}

/** The caps each stage's figures came from, one line a stage. */
export function describeCaps(caps: StageCaps): string {
  const reserved = Object.entries(caps.reserved).filter(([, n]) => n !== undefined);
  return `${caps.stage}: stage ${caps.stageRate} rps, $connect ${caps.connectRate} rps, reserved ${
    reserved.length ? reserved.map(([f, n]) => `${f} ${n}`).join(', ') : 'none'
  }, table ≤ ${caps.maxReadUnits} reads/${caps.maxWriteUnits} writes a second, brake above ${caps.brakeThresholdPerMinute} messages/min for ${caps.brakeMinutes} min, braked to ${caps.brakedRate} rps, maxFanOut ${caps.limits.maxFanOut}, maxHeldBytes ${caps.limits.maxHeldBytes}`;
}

/**
 * The transport's goodput under a stage throttle of R frames a second (part of the transport
 * section of `npm run bench`): app bytes delivered per second as a share of R × 32 KB, the most
 * one pair could carry if every token went to a full data frame. Tokens are counted as the frames
 * that got through the gateway (those the peer read), split into data, duplicates of data the peer
 * had (resends that were not needed), acknowledgements and hellos.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { signalSocket, type WebSocketConstructor } from '../client/index.js';
import { startGateway } from '../local/gateway/index.js';

const FRAME = 32 * 1024;

interface Tally {
  data: number;
  duplicates: number;
  acks: number;
  hellos: number;
  seen: Set<number>;
}

/** A `ws` that sorts the transport frames it reads (the tokens they took on the way). */
function tallying(tally: Tally): WebSocketConstructor {
  class Tallying extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      this.on('message', (data: Buffer) => {
        const kind = String.fromCharCode(data[0]!);
        if (kind === 'A') tally.acks++;
        else if (kind === 'H') tally.hellos++;
        else if (kind === 'D' || kind === 'd') {
          const seq = parseInt(data.subarray(1, data.indexOf(0x2e)).toString(), 36);
          if (tally.seen.has(seq)) tally.duplicates++;
          else tally.data++;
          tally.seen.add(seq);
        }
      });
    }
  }
  return Tallying;
}

export interface GoodputRow {
  rate: number;
  burst: number;
  bothWays: boolean;
  appBytes: number;
  seconds: number;
  /** App bytes a second over R × 32 KB. */
  ratio: number;
  tokens: number;
  ackShare: number;
  duplicateShare: number;
  /** Copies written again per data frame written (resends of dropped frames included). */
  resentPerData: number;
  errorFrames: number;
}

type Socket = InstanceType<ReturnType<typeof signalSocket>>;

const event = (socket: Socket, type: string) =>
  new Promise<void>((resolve) => socket.addEventListener(type, () => resolve(), { once: true }));

function arrivals(socket: Socket, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) =>
    socket.addEventListener('message', () => ++seen === count && resolve()),
  );
}

/** One run: `seconds` worth of R × 32 KB sent (split between the sides when both ways). */
async function measure(rate: number, bothWays: boolean, seconds: number): Promise<GoodputRow> {
  const burst = Math.max(2, Math.round(rate / 10));
  const gateway = await startGateway({
    logLevel: 'warn',
    logSink: () => undefined,
    throttle: { rate, burst },
  });
  try {
    const run = randomUUID().slice(0, 8);
    const base = gateway.wsUrl('');
    const tallies = [0, 1].map(() => ({
      data: 0,
      duplicates: 0,
      acks: 0,
      hellos: 0,
      seen: new Set<number>(),
    }));
    const a = new (signalSocket({ WebSocket: tallying(tallies[0]!) }))(
      `${base}/connection/a-${run}/b-${run}/k-${run}`,
    );
    const b = new (signalSocket({ WebSocket: tallying(tallies[1]!) }))(
      `${base}/connection/b-${run}/a-${run}/k-${run}`,
    );
    await Promise.all([event(a, 'open'), event(b, 'open')]);
    const warm = arrivals(b, 1);
    a.send('warm-up');
    await warm;
    const total = Math.round(rate * FRAME * seconds);
    const chunk = 1024 * 1024;
    const messages = Math.max(1, Math.round(total / chunk / (bothWays ? 2 : 1)));
    const payload = 'x'.repeat(Math.min(chunk, total));
    const done = [arrivals(b, messages), ...(bothWays ? [arrivals(a, messages)] : [])];
    const started = performance.now();
    for (let i = 0; i < messages; i++) {
      a.send(payload);
      if (bothWays) b.send(payload);
    }
    await Promise.all(done);
    const elapsed = (performance.now() - started) / 1000;
    const appBytes = payload.length * messages * (bothWays ? 2 : 1);
    const tokens = tallies.reduce((n, t) => n + t.data + t.duplicates + t.acks + t.hellos, 0);
    const [ca, cb] = [a.counters, b.counters];
    const closed = event(b, 'close');
    a.close();
    await closed;
    return {
      rate,
      burst,
      bothWays,
      appBytes,
      seconds: elapsed,
      ratio: appBytes / elapsed / (rate * FRAME),
      tokens,
      ackShare: tallies.reduce((n, t) => n + t.acks + t.hellos, 0) / tokens,
      duplicateShare: tallies.reduce((n, t) => n + t.duplicates, 0) / tokens,
      resentPerData: (ca.framesResent + cb.framesResent) / (ca.dataFramesSent + cb.dataFramesSent),
      errorFrames: ca.errorFrames + cb.errorFrames,
    };
  } finally {
    await gateway.close();
  }
}

/** Goodput at each rate, one way and both ways (quick: R = 50 one way, half a second's worth). */
export async function measureGoodput(
  quick: boolean,
  progress: (line: string) => void,
): Promise<GoodputRow[]> {
  const rows: GoodputRow[] = [];
  for (const rate of quick ? [50] : [10, 50, 100])
    for (const bothWays of quick ? [false] : [false, true]) {
      progress(`transport: goodput at ${rate} frames/s, ${bothWays ? 'both ways' : 'one way'}`);
      rows.push(await measure(rate, bothWays, quick ? 0.5 : 8));
    }
  return rows;
}

interface Reporter {
  both(line?: string): void;
  table(rows: string[][]): void;
}

const fixed = (n: number, digits: number) => n.toFixed(digits);

export function printGoodput(report: Reporter, rows: GoodputRow[]): void {
  report.both(
    'Goodput under a stage throttle of R frames a second (the local gateway’s token bucket, shared by both sides, burst R/10): app bytes delivered a second over R × 32 KB. Tokens are the frames that got through; duplicates are resent copies the peer already had.',
  );
  report.both();
  report.table([
    [
      'R',
      'direction',
      'app MB',
      's',
      'goodput / (R × 32 KB)',
      'acks + hellos',
      'duplicates',
      'resent / data written',
      'error frames',
    ],
    ...rows.map((r) => [
      String(r.rate),
      r.bothWays ? 'both ways' : 'one way',
      fixed(r.appBytes / 1e6, 1),
      fixed(r.seconds, 2),
      fixed(r.ratio, 2),
      `${fixed(100 * r.ackShare, 1)}%`,
      `${fixed(100 * r.duplicateShare, 1)}%`,
      fixed(r.resentPerData, 3),
      String(r.errorFrames),
    ]),
  ]);
  report.both();
}

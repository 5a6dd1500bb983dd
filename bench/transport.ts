/**
 * The client transport's part of `npm run bench` (`--only transport` runs it alone):
 *
 *   1. its overhead on the wire: frames per app message and bytes per app byte, both directions,
 *      hellos and acknowledgements included, for text and binary, small and 1 MB messages;
 *   2. the throughput and round-trip latency of a SignalSocket pair beside a plain relay pair,
 *      through the same local gateway;
 *   3. its goodput under a stage throttle of R frames a second, as a share of R × 32 KB
 *      (bench/goodput.ts);
 *   4. the browser bundle's size, minified and gzipped (as `npm run build:client` makes it).
 *
 * `--quick` (or BENCH_QUICK=1) runs every part small, to check that it runs: no figure to judge.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { signalSocket, type WebSocketConstructor } from '../client/index.js';
import { startGateway } from '../local/gateway/index.js';
import { buildClientBundle } from '../testing/client-bundle.js';
import { measureGoodput, printGoodput, type GoodputRow } from './goodput.js';
import { num, percentile } from './stats.js';

export const TARGETS = {
  framesPerSmallMessage: 1.05,
  textBytes: 1.02,
  binaryBytes: 1.37,
  gzipKiB: 7,
  /** Goodput over R × 32 KB at R = 50 and 100 frames a second. */
  goodput: 0.8,
};

interface Wire {
  frames: number;
  bytes: number;
}

/** A `ws` that counts what it writes, for one measurement at a time. */
function countingWebSocket(wire: Wire): WebSocketConstructor {
  class Counting extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      const send = this.send.bind(this);
      // SignalSocket writes text only, one argument.
      this.send = ((data: string) => {
        wire.frames++;
        wire.bytes += Buffer.byteLength(data);
        send(data);
      }) as WebSocket['send'];
    }
  }
  return Counting;
}

type Socket = InstanceType<ReturnType<typeof signalSocket>>;

function pairUrls(base: string): [string, string] {
  const run = randomUUID().slice(0, 8);
  return [
    `${base}/connection/a-${run}/b-${run}/k-${run}`,
    `${base}/connection/b-${run}/a-${run}/k-${run}`,
  ];
}

function opened(socket: { addEventListener(type: string, l: () => void): void }) {
  return new Promise<void>((resolve) => socket.addEventListener('open', () => resolve()));
}

/** Resolves after `count` messages arrived on `socket`. */
function receive(socket: Socket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    socket.addEventListener('message', () => {
      if (++seen === count) resolve();
    });
  });
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()));

export interface OverheadRow {
  name: string;
  setupFrames: number;
  messages: number;
  appBytes: number;
  wire: Wire;
  framesPerMessage: number;
  bytesPerByte: number;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** One pair on a fresh relay; `messages` sent A to B; counts every frame either side writes. */
async function overhead(
  base: string,
  name: string,
  messages: (string | Uint8Array)[],
  oneByOne: boolean,
): Promise<OverheadRow> {
  const wire: Wire = { frames: 0, bytes: 0 };
  const Socket = signalSocket({ WebSocket: countingWebSocket(wire) });
  const [urlA, urlB] = pairUrls(base);
  const a = new Socket(urlA);
  const b = new Socket(urlB);
  b.binaryType = 'arraybuffer';
  await Promise.all([opened(a), opened(b)]);
  // The once-per-connection hellos and confirmations are reported apart: steady state from here.
  a.send('warm-up');
  await receive(b, 1);
  while (a.counters.unacknowledged > 0) await tick();
  const setupFrames = wire.frames;
  wire.frames = 0;
  wire.bytes = 0;
  const arrived = receive(b, messages.length);
  for (const message of messages) {
    a.send(message);
    if (oneByOne) await receive(b, 1);
  }
  await arrived;
  // The receiver's last acknowledgement is part of the cost: wait until A has it.
  while (a.counters.unacknowledged > 0) await tick();
  const appBytes = messages.reduce(
    (sum, m) => sum + (typeof m === 'string' ? Buffer.byteLength(m) : m.length),
    0,
  );
  const row = {
    name,
    setupFrames,
    messages: messages.length,
    appBytes,
    wire: { ...wire },
    framesPerMessage: wire.frames / messages.length,
    bytesPerByte: wire.bytes / appBytes,
  };
  a.close();
  await closed(b);
  return row;
}

export interface PairRate {
  name: string;
  messagesPerSecond: number;
  rttP50Ms: number;
  rttP99Ms: number;
}

/** Throughput of `count` messages of `size` bytes one way, then `pings` round trips one by one. */
async function pairRate(
  base: string,
  name: string,
  open: (
    url: string,
  ) => Promise<{ send(m: string): void; onMessage(l: () => void): void; close(): void }>,
  count: number,
  size: number,
  pings: number,
): Promise<PairRate> {
  const [urlA, urlB] = pairUrls(base);
  const [a, b] = await Promise.all([open(urlA), open(urlB)]);
  let received = 0;
  let waiter: (() => void) | undefined;
  b.onMessage(() => {
    received++;
    waiter?.();
  });
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      waiter = () => received >= n && resolve();
      waiter();
    });
  // Warm the pair up (pairing, held frames, cached peers) before measuring.
  a.send('warm-up');
  await until(1);
  const payload = 'x'.repeat(size);
  const started = performance.now();
  for (let i = 0; i < count; i++) a.send(payload);
  await until(1 + count);
  const seconds = (performance.now() - started) / 1000;
  let echoes = 0;
  let echoWaiter: (() => void) | undefined;
  a.onMessage(() => {
    echoes++;
    echoWaiter?.();
  });
  b.onMessage(() => b.send('pong'));
  const rtts: number[] = [];
  for (let i = 0; i < pings; i++) {
    const before = echoes;
    const t0 = performance.now();
    const echoed = new Promise<void>(
      (resolve) => (echoWaiter = () => echoes > before && resolve()),
    );
    a.send('ping');
    await echoed;
    rtts.push(performance.now() - t0);
  }
  rtts.sort((x, y) => x - y);
  a.close();
  b.close();
  return {
    name,
    messagesPerSecond: count / seconds,
    rttP50Ms: percentile(rtts, 0.5),
    rttP99Ms: percentile(rtts, 0.99),
  };
}

async function openSignal(url: string) {
  const socket = new (signalSocket({ WebSocket: WebSocket as unknown as WebSocketConstructor }))(
    url,
  );
  await opened(socket);
  return {
    send: (m: string) => socket.send(m),
    onMessage: (l: () => void) => socket.addEventListener('message', l),
    close: () => socket.close(),
  };
}

async function openPlain(url: string) {
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.once('open', resolve));
  return {
    send: (m: string) => socket.send(m),
    onMessage: (l: () => void) => socket.on('message', l),
    close: () => socket.close(),
  };
}

export type BundleSize = Awaited<ReturnType<typeof bundleSize>>;

export async function bundleSize() {
  const code = (await buildClientBundle()).contents;
  return { bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length };
}

export interface TransportRun {
  quick: boolean;
  overhead: OverheadRow[];
  rates: PairRate[];
  goodput: GoodputRow[];
  bundle: BundleSize;
  load: { count: number; size: number; pings: number };
}

const text = (size: number, i: number) => `${i}:`.padEnd(size, 'é€a🐟'.repeat(size));
const binary = (size: number, i: number) =>
  Uint8Array.from({ length: size }, (_, j) => (i + j) & 0xff);

export async function measureTransport(
  progress: (line: string) => void,
  quick = false,
): Promise<TransportRun> {
  const gateway = await startGateway({ logLevel: 'warn', logSink: () => undefined });
  let run: Omit<TransportRun, 'goodput' | 'bundle'>;
  try {
    const base = gateway.wsUrl('');
    const small = quick ? 50 : 1_000;
    const one = quick ? 10 : 100;
    const mb = quick ? 64 * 1024 : 1024 * 1024;
    const label = quick ? '64 KB' : '1 MB';
    progress('transport: overhead');
    const small200 = (count: number) =>
      Array.from({ length: count }, (_, i) => 'a'.repeat(190) + String(i).padStart(10, '0'));
    const overheadRows = [
      await overhead(base, 'text, 200 B, each after the previous arrived', small200(one), true),
      await overhead(base, 'text, 200 B, in one burst', small200(small), false),
      await overhead(
        base,
        'binary, 200 B, each after the previous arrived',
        Array.from({ length: one }, (_, i) => binary(200, i)),
        true,
      ),
      await overhead(
        base,
        `text, ${label} (multi-byte)`,
        [text(mb / 2, 0).slice(0, mb / 2)],
        false,
      ),
      await overhead(base, `text, ${label} (ASCII)`, ['a'.repeat(mb)], false),
      await overhead(base, `binary, ${label}`, [binary(mb, 1)], false),
    ];
    progress('transport: throughput and latency, SignalSocket beside plain');
    const load = quick
      ? { count: 100, size: 256, pings: 10 }
      : { count: 2_000, size: 256, pings: 200 };
    const rates = [
      await pairRate(base, 'plain relay pair (ws)', openPlain, load.count, load.size, load.pings),
      await pairRate(base, 'SignalSocket pair', openSignal, load.count, load.size, load.pings),
    ];
    await gateway.settled();
    run = { quick, overhead: overheadRows, rates, load };
  } finally {
    await gateway.close();
  }
  const goodput = await measureGoodput(quick, progress);
  return { ...run, goodput, bundle: await bundleSize() };
}

interface Reporter {
  readonly md: string[];
  print(line?: string): void;
  both(line?: string): void;
  table(rows: string[][]): void;
}

export function printTransport(report: Reporter, run: TransportRun): void {
  report.both('### Client transport (SignalSocket)');
  report.both();
  if (run.quick) {
    report.both(
      'Quick mode (--quick): small sizes to check that everything runs; not measurements.',
    );
    report.both();
  }
  report.both(
    `Wire cost through the local gateway in steady state: every frame either SignalSocket wrote (data and acknowledgements), per app message sent and per app byte (UTF-8 for text). Once per connection (and per resume) the hellos and confirmations add ${run.overhead[0]?.setupFrames ?? 4} frames, a warm-up message and its acknowledgement included. See client/WIRE.md.`,
  );
  report.both();
  const rows = [
    [
      'messages',
      'count',
      'app bytes',
      'wire frames',
      'wire bytes',
      'frames / message',
      'bytes / byte',
    ],
    ...run.overhead.map((r) => [
      r.name,
      String(r.messages),
      String(r.appBytes),
      String(r.wire.frames),
      String(r.wire.bytes),
      num(r.framesPerMessage, 3),
      num(r.bytesPerByte, 4),
    ]),
  ];
  report.table(rows);
  report.both();
  const { count, size, pings } = run.load;
  report.both(
    `Throughput (${count} messages of ${size} B one way, after a warm-up) and round trip (${pings} ping-pongs one after another), through one local gateway, no jitter:`,
  );
  report.both();
  const rateRows = [
    ['pair', 'messages/s', 'RTT p50 ms', 'RTT p99 ms'],
    ...run.rates.map((r) => [
      r.name,
      num(r.messagesPerSecond, 0),
      num(r.rttP50Ms, 2),
      num(r.rttP99Ms, 2),
    ]),
  ];
  report.table(rateRows);
  report.both();
  printGoodput(report, run.goodput);
  report.both(
    `Browser bundle (npm run build:client: esbuild, ESM, minified): ${run.bundle.bytes} bytes, ${run.bundle.gzipBytes} bytes gzipped (${num(run.bundle.gzipBytes / 1024, 2)} KiB).`,
  );
  report.both();
}

/** The transport's targets, each as [met, text] (in quick mode, only the bundle's size). */
export function transportTargets(run: TransportRun): [boolean, string][] {
  const bundle: [boolean, string] = [
    run.bundle.gzipBytes <= TARGETS.gzipKiB * 1024,
    `browser bundle under ${TARGETS.gzipKiB} KiB gzipped (${num(run.bundle.gzipBytes / 1024, 2)} KiB)`,
  ];
  if (run.quick) return [bundle];
  const throttled = run.goodput.filter((r) => r.rate >= 50);
  const worstGoodput = Math.min(...throttled.map((r) => r.ratio));
  const small = run.overhead.filter((r) => r.name.includes('200 B'));
  const worstFrames = Math.max(...small.map((r) => r.framesPerMessage));
  const textRows = run.overhead.filter((r) => r.name.startsWith('text, 1 MB'));
  // Bytes per byte are bulk targets: a small message alone also pays its ~10-byte headers.
  const binaryRows = run.overhead.filter((r) => r.name.startsWith('binary, 1 MB'));
  const worstText = Math.max(...textRows.map((r) => r.bytesPerByte));
  const worstBinary = Math.max(...binaryRows.map((r) => r.bytesPerByte));
  return [
    [
      worstFrames <= TARGETS.framesPerSmallMessage,
      `at most ${TARGETS.framesPerSmallMessage} wire frames per small message (worst ${num(worstFrames, 3)})`,
    ],
    [
      worstText <= TARGETS.textBytes,
      `at most ${TARGETS.textBytes} wire bytes per byte of 1 MB text (worst ${num(worstText, 4)})`,
    ],
    [
      worstBinary <= TARGETS.binaryBytes,
      `at most ${TARGETS.binaryBytes} wire bytes per byte of 1 MB binary (worst ${num(worstBinary, 4)})`,
    ],
    [
      worstGoodput >= TARGETS.goodput,
      `goodput at least ${TARGETS.goodput} of R × 32 KB at R = 50 and 100, one way and both ways (worst ${num(worstGoodput, 2)})`,
    ],
    bundle,
  ];
}

/**
 * Relay throughput and latency: N pairs of real `ws` clients, each side sending M frames to the
 * other with at most W in flight per direction, latency measured from send to receipt at the
 * peer, in R rounds. The same load runs through the local gateway (handlers, SDK, @connections, all of it)
 * and through a bare WebSocket pipe (a server that forwards each frame to the other socket of
 * its pair, nothing else), the floor for this process and machine.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { openSocket } from './client.js';
import { addStats, emptyStats, type SdkCallCounter, type Tally } from '../testing/sdk-calls.js';
import { percentile, query } from './stats.js';

export interface RelayLoad {
  readonly pairs: number;
  /** Frames each side sends, per measured round. */
  readonly frames: number;
  /** Measured rounds, the gateway's and the pipe's taking turns. */
  readonly rounds: number;
  /** Frames in flight per direction. */
  readonly window: number;
  /** Bytes per frame. */
  readonly bytes: number;
  /** Frames each side sends first, unmeasured. */
  readonly warmup: number;
}

/** One measured run: frames received, the wall time, each frame's latency (ms). */
export interface RelayRun {
  frames: number;
  seconds: number;
  latencies: number[];
}

export interface RelayResult {
  frames: number;
  seconds: number;
  framesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Several runs as one: frames over total time, percentiles over every frame. */
export function summarize(runs: readonly RelayRun[]): RelayResult {
  const frames = runs.reduce((sum, run) => sum + run.frames, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const latencies = runs.flatMap((run) => run.latencies).sort((x, y) => x - y);
  return {
    frames,
    seconds,
    framesPerSecond: frames / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

type Pair = [WebSocket, WebSocket];

/** A bare pipe: /pipe/{n} pairs the first two sockets that ask for n and forwards their frames. */
export async function startPipe(): Promise<{
  url: (pair: number) => string;
  close(): Promise<void>;
}> {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const waiting = new Map<string, WebSocket>();
  wss.on('connection', (ws, req) => {
    const name = req.url ?? '';
    const first = waiting.get(name);
    if (!first) {
      waiting.set(name, ws);
      return;
    }
    waiting.delete(name);
    first.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('message', (data, isBinary) => first.send(data, { binary: isBinary }));
    first.on('close', () => ws.close());
    ws.on('close', () => first.close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (pair) => `ws://127.0.0.1:${port}/pipe/${pair}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => server.close(() => resolve()));
      }),
  };
}

/** Opens N pairs, one after the other: side 0 first, then side 1 (which pairs them). */
export async function openPairs(
  count: number,
  url: (pair: number, side: 0 | 1) => string,
  afterPair?: () => Promise<void>,
): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const a = await openSocket(url(i, 0));
    const b = await openSocket(url(i, 1));
    await afterPair?.();
    pairs.push([a.ws, b.ws]);
  }
  return pairs;
}

export async function closePairs(pairs: Pair[]): Promise<void> {
  await Promise.all(
    pairs.flat().map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1000);
        }),
    ),
  );
}

/**
 * Sends `frames` frames each way over every pair, keeping `window` in flight per direction, and
 * times each from send to receipt. Fails when nothing arrives for `stallMs`.
 */
export function drive(
  pairs: Pair[],
  frames: number,
  load: Pick<RelayLoad, 'window' | 'bytes'>,
  stallMs = 30_000,
): Promise<RelayRun> {
  const padding = 'x'.repeat(Math.max(0, load.bytes - 12));
  const latencies: number[] = [];
  const expected = pairs.length * 2 * frames;
  let received = 0;
  const started = performance.now();
  let lastProgress = Date.now();
  const cleanups: (() => void)[] = [];

  return new Promise<RelayRun>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearInterval(watchdog);
      for (const cleanup of cleanups) cleanup();
      if (error) return reject(error);
      resolve({ frames: received, seconds: (performance.now() - started) / 1000, latencies });
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs)
        finish(new Error(`relay stalled: ${received} of ${expected} frames arrived`));
    }, 1000);

    for (const [a, b] of pairs) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const sentAt = new Float64Array(frames);
        let next = 0;
        const sendOne = () => {
          sentAt[next] = performance.now();
          from.send(`${next}|${padding}`);
          next++;
        };
        const onMessage = (data: WebSocket.RawData) => {
          const now = performance.now();
          const text = (data as Buffer).toString();
          const seq = Number(text.slice(0, text.indexOf('|')));
          if (!Number.isInteger(seq) || seq < 0 || seq >= frames)
            return finish(new Error(`unexpected frame: ${text.slice(0, 200)}`));
          latencies.push(now - sentAt[seq]!);
          received++;
          lastProgress = Date.now();
          if (next < frames) sendOne();
          if (received === expected) finish();
        };
        to.on('message', onMessage);
        cleanups.push(() => to.off('message', onMessage));
        for (let i = 0; i < Math.min(load.window, frames); i++) sendOne();
      }
    }
  });
}

export interface RelaySection {
  loaded: { gateway: RelayResult; pipe: RelayResult };
  /** One pair, one frame in flight per direction: latency without queueing. */
  single: { gateway: RelayResult; pipe: RelayResult };
  /** AWS calls during the measured gateway rounds. */
  calls: Tally;
  frames: number;
}

/** Section 1: the load through the gateway and through the pipe, taking turns, with the calls made. */
export async function measureRelay(
  load: RelayLoad,
  gateway: { wsUrl: () => string; settled: () => Promise<void> },
  counter: SdkCallCounter,
): Promise<RelaySection> {
  const pipe = await startPipe();
  try {
    const relayUrl = (pair: number, side: 0 | 1) => {
      const [me, other] = side === 0 ? ['a', 'b'] : ['b', 'a'];
      return `${gateway.wsUrl()}?${query({
        type: 'connection',
        localId: `load-${pair}-${me}`,
        remoteId: `load-${pair}-${other}`,
        key: 'bench',
      })}`;
    };
    const gatewayPairs = await openPairs(load.pairs + 1, relayUrl, () => gateway.settled());
    const pipePairs = await openPairs(load.pairs + 1, (pair) => pipe.url(pair));
    const [gatewaySingle, gatewayLoaded] = [gatewayPairs.slice(0, 1), gatewayPairs.slice(1)];
    const [pipeSingle, pipeLoaded] = [pipePairs.slice(0, 1), pipePairs.slice(1)];
    // Warm-up: every pair's first frames (the cache misses), the JIT, the sockets.
    await drive(gatewayPairs, load.warmup, load);
    await drive(pipePairs, load.warmup, load);
    await gateway.settled();

    const runs = { gateway: [] as RelayRun[], pipe: [] as RelayRun[] };
    const single = { gateway: [] as RelayRun[], pipe: [] as RelayRun[] };
    const one = { window: 1, bytes: load.bytes };
    let calls: Tally = new Map();
    for (let round = 0; round < load.rounds; round++) {
      const before = counter.snapshot();
      runs.gateway.push(await drive(gatewayLoaded, load.frames, load));
      single.gateway.push(await drive(gatewaySingle, load.frames, one));
      await gateway.settled();
      calls = addTally(calls, diffTally(counter.snapshot(), before));
      runs.pipe.push(await drive(pipeLoaded, load.frames, load));
      single.pipe.push(await drive(pipeSingle, load.frames, one));
    }
    await closePairs(pipePairs);
    await closePairs(gatewayPairs);
    await gateway.settled();
    const loaded = { gateway: summarize(runs.gateway), pipe: summarize(runs.pipe) };
    const alone = { gateway: summarize(single.gateway), pipe: summarize(single.pipe) };
    return { loaded, single: alone, calls, frames: loaded.gateway.frames + alone.gateway.frames };
  } finally {
    await pipe.close();
  }
}

function addTally(a: Tally, b: Tally): Tally {
  const out: Tally = new Map();
  for (const tally of [a, b])
    for (const [key, stats] of tally) {
      const sum = out.get(key) ?? emptyStats();
      addStats(sum, stats);
      out.set(key, sum);
    }
  return out;
}

function diffTally(after: Tally, before: Tally): Tally {
  const out: Tally = new Map();
  for (const [key, stats] of after) {
    const calls = stats.calls - (before.get(key)?.calls ?? 0);
    if (calls) out.set(key, { ...stats, calls });
  }
  return out;
}

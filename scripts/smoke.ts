/**
 * `npm run smoke -- <url>`: checks that a signal server works, from the outside, as a client
 * sees it (../shared/PROTOCOL.md). Safe against production: every run uses ids and keys of its
 * own, so it never meets a real peer, and it closes every socket it opens.
 *
 * The checks run in order and stop at the first failure (later ones build on earlier ones):
 *
 *   1. fish page      GET / answers 200 text/html with 🐟 (skipped for a raw API Gateway URL)
 *   2. introduction   two peers join a shared key (and one key each of their own); each is
 *                     introduced to the other with exactly the shared key
 *   3. bad input      bad frames are answered with {type:'Error'}; the socket stays usable
 *   4. held frames    A's relay socket sends 3 frames before B connects; B, which never sends,
 *                     receives them in order
 *   5. relay          frames both ways after pairing, each delivered once
 *   6. close          A closes; the server closes B
 *
 * Exit status: 0 when every check passed, 1 when one failed (the message names it), 2 on a
 * usage error. Run with --help for the options.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

export const DEFAULT_TIMEOUT_MS = 10_000;

const USAGE = `Usage: npm run smoke -- <url> [--timeout ms] [--token T] [--form path|query] [--skip-page]

Checks a cevitxe signal server end to end: fish page, introduction, bad input, held frames,
relay both ways and close propagation. Exits 0 when all pass, 1 naming the failed check.

<url> is one of:
  wss://dxxxx.cloudfront.net                      a stage's edge URL (path form)
  wss://abc.execute-api.eu-west-1.amazonaws.com/dev   a raw API Gateway stage URL (query form)
  ws://localhost:8080                             the local gateway, npm start (path form)
  ws://localhost:8080/local                       the local gateway's stage URL (query form)
A URL with a path (a stage) or an execute-api host uses the query form, any other the path
form (/introduction/:id, /connection/:a/:b/:key). http(s):// works as ws(s)://.

Options:
  --timeout <ms>      time allowed for each check (default ${DEFAULT_TIMEOUT_MS})
  --token <T>         sent as the token query parameter on every socket (env SMOKE_TOKEN)
  --form path|query   force the URL form
  --skip-page         skip the fish page (e.g. an API Gateway custom domain)
  -h, --help          show this help
`;

export type Form = 'path' | 'query';

export interface SmokeOptions {
  /** Time allowed for each check. @default 10 s */
  readonly timeoutMs?: number;
  /** A shared token, sent as the `token` query parameter on every socket. @default none */
  readonly token?: string;
  /** The URL form. @default query for an execute-api host or a URL with a path, else path */
  readonly form?: Form;
  /** Check the fish page. @default true, except for a raw API Gateway (execute-api) URL */
  readonly fishPage?: boolean;
  /** Where the report lines go. @default console.log */
  readonly print?: (line: string) => void;
}

/** Where and how to connect, worked out from the URL and the options. */
export interface Target {
  /** The server's description in the report, e.g. `edge, path form`. */
  readonly description: string;
  readonly form: Form;
  /** The fish page's URL, or undefined when it is not checked. */
  readonly pageUrl?: string;
  /** Why the fish page is not checked, when it is not. */
  readonly pageSkipped?: string;
  /** The introduction socket's URL for a peer id. */
  introductionUrl(localId: string): string;
  /** The relay socket's URL. */
  connectionUrl(localId: string, remoteId: string, key: string): string;
}

export type StepStatus = 'passed' | 'failed' | 'skipped' | 'not run';

export interface StepReport {
  readonly step: number;
  readonly name: string;
  readonly status: StepStatus;
  /** What was seen (passed), why not (skipped), or what went wrong (failed). */
  readonly detail: string;
  readonly ms: number;
}

export interface SmokeReport {
  readonly ok: boolean;
  readonly steps: StepReport[];
  /** The failed check and what went wrong, when one failed. */
  readonly failure?: string;
}

export class UsageError extends Error {}

const isExecuteApi = (host: string) => /\.execute-api\.[^.]+\.amazonaws\.com(\.cn)?$/i.test(host);
const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Works out the target from a URL: its form, its socket URLs and its fish page. */
export function resolveTarget(
  input: string,
  options: Pick<SmokeOptions, 'form' | 'token' | 'fishPage'> = {},
): Target {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new UsageError(`not a URL: ${input}`);
  }
  const schemes: Record<string, string> = {
    'ws:': 'ws:',
    'wss:': 'wss:',
    'http:': 'ws:',
    'https:': 'wss:',
  };
  const wsScheme = schemes[url.protocol];
  if (!wsScheme) throw new UsageError(`not a ws://, wss://, http:// or https:// URL: ${input}`);
  if (url.hash) throw new UsageError(`the URL must not have a #fragment: ${input}`);

  const basePath = url.pathname.replace(/\/+$/, '');
  const raw = isExecuteApi(url.hostname);
  if (raw && !basePath && options.form !== 'path')
    throw new UsageError(
      `a raw API Gateway URL needs its stage, e.g. wss://${url.host}/dev (sockets are accepted only there)`,
    );
  const form: Form = options.form ?? (raw || basePath ? 'query' : 'path');
  const kind = raw ? 'API Gateway stage' : isLoopback(url.hostname) ? 'local gateway' : 'edge';
  const origin = `${wsScheme}//${url.host}`;
  const extra = new URLSearchParams(url.search);
  if (options.token !== undefined) extra.set('token', options.token);

  const withQuery = (path: string, params: Record<string, string>) => {
    const query = new URLSearchParams(params);
    for (const [name, value] of extra) if (!(name in params)) query.append(name, value);
    const search = query.toString();
    return `${origin}${path}${search ? `?${search}` : ''}`;
  };
  const segment = encodeURIComponent;
  const fishPage = options.fishPage ?? !raw;
  return {
    description: `${kind}, ${form} form${form === 'query' ? ` at ${basePath || '/'}` : ''}`,
    form,
    ...(fishPage
      ? { pageUrl: `${wsScheme === 'wss:' ? 'https:' : 'http:'}//${url.host}/` }
      : {
          pageSkipped:
            options.fishPage === false
              ? 'skipped (--skip-page)'
              : 'skipped: a raw API Gateway URL has no fish page',
        }),
    introductionUrl: (localId) =>
      form === 'path'
        ? withQuery(`${basePath}/introduction/${segment(localId)}`, {})
        : withQuery(basePath || '/', { type: 'introduction', localId }),
    connectionUrl: (localId, remoteId, key) =>
      form === 'path'
        ? withQuery(
            `${basePath}/connection/${segment(localId)}/${segment(remoteId)}/${segment(key)}`,
            {},
          )
        : withQuery(basePath || '/', { type: 'connection', localId, remoteId, key }),
  };
}

/** A URL fit for printing: the token's value hidden. */
function shown(url: string): string {
  return url.replace(/([?&]token=)[^&]*/g, '$1***');
}

const clip = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max)}…` : text);

function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0)
    return [...new Set(error.errors.map(errorText))].join('; ');
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

/** One check's time budget. */
class Budget {
  readonly deadline: number;
  constructor(readonly ms: number) {
    this.deadline = Date.now() + ms;
  }
  get remaining(): number {
    return Math.max(0, this.deadline - Date.now());
  }
}

interface Closed {
  code: number;
  reason: string;
}

/** A client socket that records every frame it receives and can wait for what it expects. */
class Peer {
  readonly frames: string[] = [];
  closedWith?: Closed;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly label: string,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      this.frames.push(isBinary ? `<binary frame, ${bytes.length} bytes>` : bytes.toString());
      this.notify();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closedWith = { code, reason: reason.toString() };
      this.notify();
    });
  }

  /** Opens a socket, or fails saying why: the handshake's HTTP status, or the network error. */
  static open(label: string, url: string, budget: Budget, sockets: Set<WebSocket>): Promise<Peer> {
    return new Promise<Peer>((resolve, reject) => {
      const ws = new WebSocket(url, {
        handshakeTimeout: Math.max(1, budget.remaining),
        perMessageDeflate: false,
      });
      sockets.add(ws);
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`${label} could not connect to ${shown(url)}: ${why}`));
      };
      const timer = setTimeout(
        () => fail(`no handshake within ${budget.ms} ms`),
        Math.max(1, budget.remaining),
      );
      // After settling, errors are the socket's own business (reported through close).
      ws.on('error', (error) => fail(errorText(error)));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        const refuse = () =>
          fail(
            `handshake refused with HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd() +
              (body.trim() ? `: ${clip(body.trim().replace(/\s+/g, ' '))}` : ''),
          );
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 1000) body += chunk;
        });
        res.on('end', refuse);
        res.on('error', refuse);
        res.on('close', refuse);
      });
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(new Peer(label, ws));
      });
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Sends a text frame; resolves once it is handed to the network. */
  send(text: string): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.ws.send(text, (error) =>
        error ? reject(new Error(`${this.label} could not send: ${errorText(error)}`)) : resolve(),
      ),
    );
  }

  /** What this socket received, for messages. */
  received(from = 0): string {
    const frames = this.frames.slice(from);
    if (frames.length === 0) return 'nothing';
    return clip(frames.join(' | '), 400);
  }

  /**
   * Resolves with what `check` returns once it returns something. `check` runs on every frame
   * and may throw to fail at once (an unexpected frame). Fails when the budget runs out, or
   * when the socket closes first.
   */
  until<T>(what: string, budget: Budget, check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(attempt);
        settle();
      };
      const attempt = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          return finish(() => reject(error instanceof Error ? error : new Error(String(error))));
        }
        if (value !== undefined) return finish(() => resolve(value));
        if (this.closedWith) {
          const { code, reason } = this.closedWith;
          finish(() =>
            reject(
              new Error(
                `${this.label} was closed (${code}${reason ? ` ${reason}` : ''}) while waiting for ${what}; it received ${this.received()}`,
              ),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `no ${what} within ${budget.ms} ms; ${this.label} received ${this.received()}`,
              ),
            ),
          ),
        budget.remaining,
      );
      this.listeners.add(attempt);
      attempt();
    });
  }

  /** Resolves when the socket has closed, whoever closed it. */
  closed(what: string, budget: Budget): Promise<Closed> {
    return this.until(what, budget, () => this.closedWith);
  }

  close(code = 1000, reason = 'smoke test done'): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN)
      this.ws.close(code, reason);
  }
}

/** Closes every socket: politely, then, after a second, for good. */
async function closeAll(sockets: Set<WebSocket>): Promise<void> {
  await Promise.all(
    [...sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1_000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'smoke test done');
          else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        }),
    ),
  );
}

const parse = (frame: string): unknown => {
  try {
    return JSON.parse(frame) as unknown;
  } catch {
    return undefined;
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const sameList = (a: unknown, b: readonly string[]) =>
  Array.isArray(a) && a.length === b.length && a.every((item, i) => item === b[i]);

/**
 * Runs every check against `url` and reports each as it finishes. Never throws for what the
 * server does: a failure is in the report (and its `failure`).
 */
export async function runSmoke(url: string, options: SmokeOptions = {}): Promise<SmokeReport> {
  const print = options.print ?? ((line: string) => console.log(line));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const target = resolveTarget(url, options);
  const run = randomBytes(6).toString('hex');
  const ids = { a: `smoke-${run}-a`, b: `smoke-${run}-b` };
  const shared = `smoke-${run}-shared`;
  const own = { a: `smoke-${run}-a-only`, b: `smoke-${run}-b-only` };
  const sockets = new Set<WebSocket>();
  const open = (label: string, socketUrl: string, budget: Budget) =>
    Peer.open(label, socketUrl, budget, sockets);
  const frame = (from: 'a' | 'b', n: number) => JSON.stringify({ smoke: run, from, n });
  const introductionOf = (id: string) =>
    JSON.stringify({ type: 'Introduction', id, keys: [shared] });

  print(
    `Smoke test of ${shown(url)} (${target.description}), run ${run}, ${timeoutMs} ms per check`,
  );

  // What the checks share: the introduction sockets (2 → 3) and the relay sockets (4 → 6).
  let introA: Peer | undefined;
  let introB: Peer | undefined;
  let relayA: Peer | undefined;
  let relayB: Peer | undefined;
  const needed = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('an earlier check did not finish');
    return value;
  };

  /** Every frame of an introduction socket since `from` is the expected introduction, or throws. */
  const onlyIntroductions = (peer: Peer, other: string, from: number) => {
    const expected = introductionOf(other);
    const frames = peer.frames.slice(from);
    for (const got of frames) {
      const message = parse(got);
      if (
        !isRecord(message) ||
        message.type !== 'Introduction' ||
        message.id !== other ||
        !sameList(message.keys, [shared])
      )
        throw new Error(`${peer.label} received ${clip(got)}, expecting only ${expected}`);
    }
    return frames.length > 0 ? frames.length : undefined;
  };

  const checks: { name: string; run: (budget: Budget) => Promise<string> }[] = [
    {
      name: 'fish page',
      run: async (budget) => {
        const pageUrl = target.pageUrl!;
        let response: Response;
        try {
          response = await fetch(pageUrl, {
            signal: AbortSignal.timeout(Math.max(1, budget.remaining)),
          });
        } catch (error) {
          const why =
            error instanceof Error && error.name === 'TimeoutError'
              ? `no answer within ${budget.ms} ms`
              : errorText((error as { cause?: unknown }).cause ?? error);
          throw new Error(`GET ${pageUrl} failed: ${why}`, { cause: error });
        }
        const type = response.headers.get('content-type') ?? '(no content-type)';
        const body = await response.text();
        const seen = `GET ${pageUrl} → ${response.status} ${type}`;
        if (response.status !== 200) throw new Error(`${seen}, expecting 200`);
        if (!/^text\/html\b/i.test(type)) throw new Error(`${seen}, expecting text/html`);
        if (!body.includes('🐟')) throw new Error(`${seen} without 🐟: ${clip(body)}`);
        return `${seen}, with 🐟`;
      },
    },
    {
      name: 'introduction',
      run: async (budget) => {
        // A joins first, B once its socket is open: B's Join always comes after A's.
        introA = await open("A's introduction socket", target.introductionUrl(ids.a), budget);
        await introA.send(JSON.stringify({ type: 'Join', join: [shared, own.a] }));
        introB = await open("B's introduction socket", target.introductionUrl(ids.b), budget);
        await introB.send(JSON.stringify({ type: 'Join', join: [shared, own.b] }));
        const [a, b] = [introA, introB];
        await Promise.all([
          a.until(`introduction ${introductionOf(ids.b)}`, budget, () =>
            onlyIntroductions(a, ids.b, 0),
          ),
          b.until(`introduction ${introductionOf(ids.a)}`, budget, () =>
            onlyIntroductions(b, ids.a, 0),
          ),
        ]);
        return `A and B joined a shared key (and one key each of their own); each was introduced to the other with exactly the shared key`;
      },
    },
    {
      name: 'bad input',
      run: async (budget) => {
        const a = needed(introA);
        const from = a.frames.length;
        const bad = ['this is not JSON', JSON.stringify({ type: 'Join', join: shared })];
        for (const body of bad) await a.send(body);
        const errors = await a.until(`${bad.length} {type:'Error'} replies`, budget, () => {
          const errors: string[] = [];
          for (const got of a.frames.slice(from)) {
            const message = parse(got);
            if (isRecord(message) && message.type === 'Error' && typeof message.error === 'string')
              errors.push(message.error);
            // Late duplicate introductions are allowed; anything else is not.
            else if (!isRecord(message) || message.type !== 'Introduction')
              throw new Error(`A received ${clip(got)}, expecting {type:'Error'}`);
          }
          return errors.length >= bad.length ? errors : undefined;
        });
        // Still usable: joining again introduces A to B again.
        const again = a.frames.length;
        await a.send(JSON.stringify({ type: 'Join', join: [shared] }));
        await a.until(`introduction to B after the bad input`, budget, () =>
          a.frames.slice(again).some((got) => {
            const message = parse(got);
            return isRecord(message) && message.type === 'Introduction' && message.id === ids.b;
          })
            ? true
            : undefined,
        );
        return `${bad.length} bad frames got ${errors.length} Error replies (${errors.map((error) => JSON.stringify(clip(error, 60))).join(', ')}); the socket stayed open and a new Join introduced B again`;
      },
    },
    {
      name: 'held frames',
      run: async (budget) => {
        relayA = await open("A's relay socket", target.connectionUrl(ids.a, ids.b, shared), budget);
        const held = [1, 2, 3].map((n) => frame('a', n));
        // One after another, each handed to the network before the next.
        for (const body of held) await relayA.send(body);
        relayB = await open("B's relay socket", target.connectionUrl(ids.b, ids.a, shared), budget);
        const b = relayB;
        await b.until(`${held.length} held frames from A`, budget, () => {
          b.frames.forEach((got, i) => {
            if (got !== held[i])
              throw new Error(
                `B received ${b.received()}, expecting ${held.join(' | ')} in that order`,
              );
          });
          return b.frames.length >= held.length ? true : undefined;
        });
        return `A sent ${held.length} frames before B connected; B, sending nothing, received all ${held.length} in order`;
      },
    },
    {
      name: 'relay both ways',
      run: async (budget) => {
        const [a, b] = [needed(relayA), needed(relayB)];
        const toB = [4, 5, 6].map((n) => frame('a', n));
        const toA = [1, 2, 3].map((n) => frame('b', n));
        const heldCount = b.frames.length;
        const exactlyOnce = (peer: Peer, from: number, expected: string[], sender: string) => {
          const got = peer.frames.slice(from);
          for (const item of got) {
            if (!expected.includes(item))
              throw new Error(`${peer.label} received ${clip(item)}, which ${sender} never sent`);
            if (got.filter((other) => other === item).length > 1)
              throw new Error(`${peer.label} received ${clip(item)} more than once`);
          }
          return got.length === expected.length ? got : undefined;
        };
        await Promise.all([
          (async () => {
            for (const body of toB) await a.send(body);
          })(),
          (async () => {
            for (const body of toA) await b.send(body);
          })(),
        ]);
        const [gotA, gotB] = await Promise.all([
          a.until(`${toA.length} frames from B`, budget, () => exactlyOnce(a, 0, toA, 'B')),
          b.until(`${toB.length} frames from A`, budget, () => exactlyOnce(b, heldCount, toB, 'A')),
        ]);
        // Anything more within a moment would be a duplicate or a frame of the server's own.
        const quietMs = Math.min(500, Math.floor(budget.remaining / 2));
        await new Promise((resolve) => setTimeout(resolve, quietMs));
        exactlyOnce(a, 0, toA, 'B');
        exactlyOnce(b, heldCount, toB, 'A');
        const order = (got: string[], sent: string[]) =>
          sameList(got, sent) ? 'in order' : 'reordered';
        return `${toB.length} frames A→B (${order(gotB, toB)}) and ${toA.length} B→A (${order(gotA, toA)}), each delivered once, nothing else within ${quietMs} ms`;
      },
    },
    {
      name: 'close',
      run: async (budget) => {
        const [a, b] = [needed(relayA), needed(relayB)];
        const started = Date.now();
        a.close(1000, 'smoke test: A leaves');
        const { code, reason } = await b.closed('close of B by the server after A closed', budget);
        return `A closed; the server closed B (${code}${reason ? ` ${reason}` : ''}) ${Date.now() - started} ms later`;
      },
    },
  ];

  const steps: StepReport[] = [];
  let failure: string | undefined;
  const count = checks.length;
  try {
    for (const [i, check] of checks.entries()) {
      const step = i + 1;
      const label = `${step}/${count} ${check.name}`;
      if (failure !== undefined) {
        steps.push({ step, name: check.name, status: 'not run', detail: '', ms: 0 });
        print(`· ${label}: not run`);
        continue;
      }
      if (check.name === 'fish page' && !target.pageUrl) {
        const detail = target.pageSkipped ?? 'skipped';
        steps.push({ step, name: check.name, status: 'skipped', detail, ms: 0 });
        print(`- ${label}: ${detail}`);
        continue;
      }
      const started = Date.now();
      const budget = new Budget(timeoutMs);
      try {
        const detail = await check.run(budget);
        const ms = Date.now() - started;
        steps.push({ step, name: check.name, status: 'passed', detail, ms });
        print(`✓ ${label}: ${detail} (${ms} ms)`);
      } catch (error) {
        const ms = Date.now() - started;
        const detail = errorText(error);
        steps.push({ step, name: check.name, status: 'failed', detail, ms });
        print(`✗ ${label}: ${detail} (${ms} ms)`);
        failure = `check ${step} (${check.name}) failed: ${detail}`;
      }
    }
  } finally {
    await closeAll(sockets);
  }
  const total = steps.reduce((sum, step) => sum + step.ms, 0);
  if (failure === undefined) {
    const passed = steps.filter((step) => step.status === 'passed').length;
    print(`PASSED: ${passed} of ${count} checks passed (${total} ms)`);
    return { ok: true, steps };
  }
  print(`FAILED: ${failure}`);
  return { ok: false, steps, failure };
}

function timeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new UsageError('--timeout must be a positive whole number of milliseconds');
  return ms;
}

/** Reads the command line; throws UsageError on anything it does not understand. */
export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): { help: true } | { help: false; url: string; options: SmokeOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        timeout: { type: 'string' },
        token: { type: 'string' },
        form: { type: 'string' },
        'skip-page': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(errorText(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0 ? 'the server URL is missing' : 'give exactly one server URL',
    );
  const form = values.form;
  if (form !== undefined && form !== 'path' && form !== 'query')
    throw new UsageError('--form must be path or query');
  const token = values.token ?? (env.SMOKE_TOKEN || undefined);
  const timeoutMs = timeout(values.timeout);
  return {
    help: false,
    url: positionals[0]!,
    options: {
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(token === undefined ? {} : { token }),
      ...(form === undefined ? {} : { form }),
      ...(values['skip-page'] ? { fishPage: false } : {}),
    },
  };
}

/** The command: prints the report, returns the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const command = parseCommandLine(argv, env);
    if (command.help) {
      console.log(USAGE);
      return 0;
    }
    const report = await runSmoke(command.url, command.options);
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`FAILED: ${errorText(error)}`);
    return 1;
  }
}

const invokedDirectly = (() => {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) process.exitCode = await main(process.argv.slice(2), process.env);

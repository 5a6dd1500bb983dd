/**
 * Where the smoke test connects, worked out from the URL it is given: the form of its socket
 * URLs (path or query), the fish page, and the token on every socket.
 */
import { UsageError } from '../../scripts/cli.js';

export type Form = 'path' | 'query';

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

/** What resolveTarget reads besides the URL. */
export interface TargetOptions {
  /** A shared token, sent as the `token` query parameter on every socket. @default none */
  readonly token?: string;
  /** The URL form. @default query for an execute-api host or a URL with a path, else path */
  readonly form?: Form;
  /** Check the fish page. @default true, except for a raw API Gateway (execute-api) URL */
  readonly fishPage?: boolean;
}

const isExecuteApi = (host: string) => /\.execute-api\.[^.]+\.amazonaws\.com(\.cn)?$/i.test(host);
const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Works out the target from a URL: its form, its socket URLs and its fish page. */
export function resolveTarget(input: string, options: TargetOptions = {}): Target {
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

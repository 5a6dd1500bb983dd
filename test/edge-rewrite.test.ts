// The edge rewrite (edge/rewrite.js) run through the same vm sandbox the local gateway uses, on
// CloudFront-shaped viewer-request events.
import { describe, expect, it } from 'vitest';
import {
  EDGE_CODE_BUDGET_BYTES,
  edgeFunctionCode,
  MAX_FUNCTION_CODE_BYTES,
  rewriteSource,
} from '../edge/source.js';
import {
  isResponse,
  parseQuerystring,
  serializeQuerystring,
  viewerRequestEvent,
  type CloudFrontRequest,
  type CloudFrontResponse,
  type CloudFrontViewerRequestResult,
} from '../local/edge-event.js';
import { loadFunction, loadRewrite, type Rewrite } from '../local/edge-runtime.js';

const UPGRADE = {
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13',
};

const rewrite = loadRewrite('dev');

/** A viewer-request event as CloudFront builds it for `method url` with these headers. */
function event(method: string, url: string, headers: Record<string, string> = {}) {
  return viewerRequestEvent({ method, url, headers, ip: '198.51.100.11' });
}

function forwarded(result: CloudFrontViewerRequestResult): CloudFrontRequest {
  if (isResponse(result)) {
    throw new Error(`expected the request to be forwarded, got ${result.statusCode}`);
  }
  return result;
}

function answered(result: CloudFrontViewerRequestResult): CloudFrontResponse {
  if (!isResponse(result)) {
    throw new Error(`expected a generated response, got a request for ${result.uri}`);
  }
  return result;
}

/** The WebSocket handshake for `url`, rewritten by the edge for stage `dev`. */
function handshake(url: string, using: Rewrite = rewrite): CloudFrontViewerRequestResult {
  return using(event('GET', url, UPGRADE));
}

/** The query the stage receives, decoded as API Gateway decodes it for $connect. */
function stageQuery(request: CloudFrontRequest): Record<string, string> {
  return Object.fromEntries(
    Object.entries(request.querystring).map(([name, { value }]) => [
      name,
      decodeURIComponent(value),
    ]),
  );
}

describe('the path form', () => {
  it('rewrites /introduction/:localId to the stage path with the query form', () => {
    const request = forwarded(handshake('/introduction/aaaa4242'));
    expect(request.uri).toBe('/dev');
    expect(request.querystring).toEqual({
      type: { value: 'introduction' },
      localId: { value: 'aaaa4242' },
    });
  });

  it('rewrites /connection/:localId/:remoteId/:key to the stage path with the query form', () => {
    const request = forwarded(handshake('/connection/aaaa4242/qrst7890/happy-raccoon'));
    expect(request.uri).toBe('/dev');
    expect(request.querystring).toEqual({
      type: { value: 'connection' },
      localId: { value: 'aaaa4242' },
      remoteId: { value: 'qrst7890' },
      key: { value: 'happy-raccoon' },
    });
  });

  it('targets the stage it was loaded for', () => {
    const prod = loadRewrite('prod_2-eu');
    expect(forwarded(handshake('/introduction/a', prod)).uri).toBe('/prod_2-eu');
  });

  it('keeps the handshake headers, cookies and method', () => {
    const request = forwarded(
      rewrite(event('GET', '/introduction/a', { ...UPGRADE, Cookie: 'session=1' })),
    );
    expect(request.method).toBe('GET');
    expect(request.headers['sec-websocket-key']).toEqual({ value: UPGRADE['Sec-WebSocket-Key'] });
    expect(request.headers['sec-websocket-version']).toEqual({ value: '13' });
    expect(request.cookies).toEqual({ session: { value: '1' } });
  });

  it('carries the viewer’s other query parameters, such as the shared token', () => {
    const relay = forwarded(handshake('/connection/a/b/k?token=s3cr%2Bt'));
    expect(relay.querystring).toEqual({
      type: { value: 'connection' },
      localId: { value: 'a' },
      remoteId: { value: 'b' },
      key: { value: 'k' },
      token: { value: 's3cr%2Bt' },
    });
    expect(stageQuery(relay).token).toBe('s3cr+t');
    const intro = forwarded(handshake('/introduction/a/?token=t&client=cevitxe'));
    expect(stageQuery(intro)).toEqual({
      type: 'introduction',
      localId: 'a',
      token: 't',
      client: 'cevitxe',
    });
  });

  it('carries the SignalSocket transport marker of a relay socket to $connect', () => {
    const relay = forwarded(handshake('/connection/a/b/k?transport=signalsocket-1'));
    expect(stageQuery(relay)).toEqual({
      type: 'connection',
      localId: 'a',
      remoteId: 'b',
      key: 'k',
      transport: 'signalsocket-1',
    });
  });

  it('keeps extra parameters exactly as the viewer spelled them, repeated or empty', () => {
    const request = forwarded(handshake('/introduction/a?x=1&x=%F0%9F%90%9F&flag&empty='));
    expect(request.querystring).toEqual({
      type: { value: 'introduction' },
      localId: { value: 'a' },
      x: { value: '1', multiValue: [{ value: '1' }, { value: '%F0%9F%90%9F' }] },
      flag: { value: '' },
      empty: { value: '' },
    });
  });

  it('never lets the query override or add a parameter the path sets', () => {
    const relay = forwarded(
      handshake('/connection/a/b/k?type=introduction&localId=x&remoteId=y&key=z&token=t'),
    );
    expect(stageQuery(relay)).toEqual({
      type: 'connection',
      localId: 'a',
      remoteId: 'b',
      key: 'k',
      token: 't',
    });
    expect(relay.querystring.localId).toEqual({ value: 'a' });
    // An introduction takes no remoteId or key: the query cannot add them either.
    const intro = forwarded(handshake('/introduction/a?type=connection&remoteId=b&key=k&n=1'));
    expect(stageQuery(intro)).toEqual({ type: 'introduction', localId: 'a', n: '1' });
  });

  it('drops reserved names spelled with percent-encoding, which API Gateway decodes', () => {
    const request = forwarded(
      handshake('/connection/a/b/k?%74ype=introduction&localI%64=x&%6B%65%79=z&%72emoteId=y&t=1'),
    );
    expect(Object.keys(request.querystring).sort()).toEqual(
      ['key', 'localId', 'remoteId', 't', 'type'].sort(),
    );
    expect(stageQuery(request)).toMatchObject({ type: 'connection', localId: 'a', key: 'k' });
  });

  it('drops parameter names that are not valid percent-encoding, keeps other case spellings', () => {
    const request = forwarded(handshake('/introduction/a?%E0%A4%A=1&bad%zz=2&Type=3&KEY=4'));
    expect(request.querystring).toEqual({
      type: { value: 'introduction' },
      localId: { value: 'a' },
      // Names are case-sensitive at API Gateway and in the $connect handler.
      Type: { value: '3' },
      KEY: { value: '4' },
    });
  });

  it.each([
    ['a space', 'a%20b', 'a b'],
    ['a plus sign, which stays a plus', 'a+b', 'a+b'],
    ['a hash', 'a%23b', 'a#b'],
    ['a question mark', 'a%3Fb', 'a?b'],
    ['a slash encoded inside the segment', 'a%2Fb', 'a/b'],
    ['lower-case escapes', 'a%2fb%3f', 'a/b?'],
    ['a percent sign', '100%25', '100%'],
    ['an ampersand and equals sign', '%26type%3Dconnection', '&type=connection'],
    ['encoded unicode', '%C3%A9t%C3%A9', 'été'],
    ['raw unicode', 'été', 'été'],
    ['an emoji', '%F0%9F%90%9F', '🐟'],
    ['CJK text', '%E5%AE%B6', '家'],
    ['quotes and brackets', "%22%27%3C%3E%5B%5D%7B%7D'", "\"'<>[]{}'"],
    ['a cuid', 'ck3ckyeq300003h5z8ou6mh9o', 'ck3ckyeq300003h5z8ou6mh9o'],
  ])('percent-decodes %s in a segment', (_what, segment, decoded) => {
    const intro = forwarded(handshake(`/introduction/${segment}`));
    expect(stageQuery(intro)).toEqual({ type: 'introduction', localId: decoded });
    // What CloudFront forwards must be a well-formed query value: encoded once, exactly.
    expect(intro.querystring.localId?.value).toBe(encodeURIComponent(decoded));

    const relay = forwarded(handshake(`/connection/${segment}/peer/${segment}`));
    expect(stageQuery(relay)).toEqual({
      type: 'connection',
      localId: decoded,
      remoteId: 'peer',
      key: decoded,
    });
  });

  it('accepts ids and keys of exactly 256 UTF-16 code units', () => {
    const id = 'a'.repeat(256);
    expect(stageQuery(forwarded(handshake(`/introduction/${id}`))).localId).toBe(id);
    const emoji = '🐟'.repeat(128); // 2 code units each
    const key = forwarded(handshake(`/connection/a/b/${encodeURIComponent(emoji)}`));
    expect(stageQuery(key).key).toBe(emoji);
    // The limit counts decoded characters, not the encoded spelling.
    const spaces = forwarded(handshake(`/introduction/${'%20'.repeat(256)}`));
    expect(stageQuery(spaces).localId).toBe(' '.repeat(256));
  });

  it('ignores one trailing slash, as the original server did', () => {
    expect(stageQuery(forwarded(handshake('/introduction/abc/')))).toEqual({
      type: 'introduction',
      localId: 'abc',
    });
    expect(stageQuery(forwarded(handshake('/connection/a/b/k/')))).toEqual({
      type: 'connection',
      localId: 'a',
      remoteId: 'b',
      key: 'k',
    });
  });
});

describe('refusing a malformed path form with 400', () => {
  it.each([
    ['no id', '/introduction'],
    ['an empty id', '/introduction/'],
    ['two trailing slashes', '/introduction/abc//'],
    ['an extra segment', '/introduction/a/b'],
    ['a missing key', '/connection/a/b'],
    ['a missing key behind a trailing slash', '/connection/a/b/'],
    ['an extra relay segment', '/connection/a/b/k/x'],
    ['an empty localId', '/connection//b/k'],
    ['an empty remoteId', '/connection/a//k'],
    ['an empty key', '/connection/a/b//'],
    ['a NUL character', '/introduction/a%00b'],
    ['a tab', '/introduction/a%09b'],
    ['a newline', '/connection/a/b/k%0A'],
    ['a unit separator (end of C0)', '/introduction/%1F'],
    ['DEL', '/introduction/a%7F'],
    ['a C1 control (U+0080)', '/connection/a/%C2%80/k'],
    ['a C1 control (U+009F)', '/introduction/%C2%9F'],
    ['a truncated escape', '/introduction/%E0%A4%A'],
    ['a lone percent sign', '/introduction/100%'],
    ['a non-hex escape', '/introduction/%zz'],
    ['an overlong UTF-8 sequence', '/introduction/%C0%AF'],
    ['an encoded surrogate', '/connection/a/b/%ED%A0%80'],
    ['invalid UTF-8', '/introduction/%FF'],
    ['an id of 257 characters', `/introduction/${'a'.repeat(257)}`],
    ['a key of 257 UTF-16 code units', `/connection/a/b/${'k'.repeat(255)}%F0%9F%90%9F`],
    ['the same localId and remoteId', '/connection/a/a/k'],
    ['ids equal once decoded', '/connection/%61/a/k'],
  ])('refuses %s', (_what, url) => {
    const response = answered(handshake(url));
    expect(response.statusCode).toBe(400);
    expect(response.statusDescription).toBe('Bad Request');
    expect(response.headers['content-type']).toEqual({ value: 'text/plain; charset=utf-8' });
    expect(response.body?.encoding).toBe('text');
    expect(response.body?.data).toMatch(/^Bad Request: .+\n$/);
  });

  it('says what was wrong without echoing the request', () => {
    const cases: [string, RegExp][] = [
      ['/connection/a/b', /takes 3 path parameter\(s\): localId, remoteId, key/],
      ['/connection/a/b/%3Cscript%3E%00', /key contains a control character/],
      [`/introduction/${'x'.repeat(300)}`, /localId is longer than 256 characters/],
      ['/connection/a/%E0%A4%A/k', /remoteId is not valid percent-encoded UTF-8/],
      ['/connection/me/me/k', /localId and remoteId are the same/],
      ['/introduction/', /localId is empty/],
    ];
    for (const [url, reason] of cases) {
      const data = answered(handshake(url)).body?.data ?? '';
      expect(data).toMatch(reason);
      expect(data).not.toMatch(/script|xxx/);
    }
  });
});

describe('refusing other paths with 403, as API Gateway does beyond the stage', () => {
  it.each([
    ['an unknown endpoint', '/foo'],
    ['an unknown nested path', '/foo/a/b/k'],
    ['a path beyond the stage', '/dev/extra'],
    ['the path form under the stage', '/dev/introduction/a'],
    ['a doubled leading slash', '//introduction/a'],
    ['an endpoint name in another case', '/Introduction/a'],
    ['a percent-encoded endpoint name', '/%69ntroduction/a'],
    ['another stage', '/prod'],
  ])('refuses %s', (_what, url) => {
    const response = answered(handshake(url));
    expect(response.statusCode).toBe(403);
    expect(response.statusDescription).toBe('Forbidden');
    expect(response.body?.data).toBe('Forbidden\n');
  });
});

describe('the query form', () => {
  it('passes a handshake at the stage path through with its query string unchanged', () => {
    const url = '/dev?type=connection&localId=a%20b&remoteId=%F0%9F%90%9F&key=k%2Bx';
    const original = event('GET', url, UPGRADE);
    const request = forwarded(rewrite(original));
    expect(request.uri).toBe('/dev');
    expect(request.querystring).toEqual(original.request.querystring);
    expect(serializeQuerystring(request.querystring)).toBe(url.slice('/dev?'.length));
  });

  it('forwards a handshake at / or at the stage path with a slash to the stage path', () => {
    for (const url of ['/?type=introduction&localId=a', '/dev/?type=introduction&localId=a']) {
      const request = forwarded(handshake(url));
      expect(request.uri).toBe('/dev');
      expect(stageQuery(request)).toEqual({ type: 'introduction', localId: 'a' });
    }
  });

  it('leaves validating the query form to $connect, even repeated or missing parameters', () => {
    const repeated = forwarded(handshake('/dev?type=introduction&localId=a&localId=b'));
    expect(repeated.querystring.localId).toEqual({
      value: 'a',
      multiValue: [{ value: 'a' }, { value: 'b' }],
    });
    const bare = forwarded(handshake('/'));
    expect(bare.uri).toBe('/dev');
    expect(bare.querystring).toEqual({});
  });
});

describe('plain HTTP', () => {
  it('answers GET / with the fish page', () => {
    const response = answered(rewrite(event('GET', '/', { Accept: 'text/html' })));
    expect(response.statusCode).toBe(200);
    expect(response.statusDescription).toBe('OK');
    expect(response.headers['content-type']).toEqual({ value: 'text/html; charset=utf-8' });
    expect(response.body?.encoding).toBe('text');
    expect(response.body?.data).toContain('🐟');
    expect(response.body?.data).toMatch(/^<!doctype html>/);
    expect(response.body?.data).toContain('background:#000');
  });

  it('answers GET / with the fish page whatever its query string', () => {
    expect(answered(rewrite(event('GET', '/?type=introduction'))).statusCode).toBe(200);
  });

  it('answers HEAD / with the same headers and no body', () => {
    const get = answered(rewrite(event('GET', '/')));
    const head = answered(rewrite(event('HEAD', '/')));
    expect(head.statusCode).toBe(200);
    expect(head.headers).toEqual(get.headers);
    expect(head.body).toBeUndefined();
  });

  it('treats HEAD as plain even with upgrade headers', () => {
    const head = answered(rewrite(event('HEAD', '/introduction/a', UPGRADE)));
    expect(head.statusCode).toBe(404);
    expect(head.body).toBeUndefined();
  });

  it.each([
    '/favicon.ico',
    '/dev',
    '/introduction/a',
    '/connection/a/b/k',
    '/dev?type=introduction&localId=a',
  ])('answers a plain GET %s with 404', (url) => {
    const response = answered(rewrite(event('GET', url)));
    expect(response.statusCode).toBe(404);
    expect(response.statusDescription).toBe('Not Found');
    expect(response.body?.data).toBe('Not Found\n');
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'])('answers %s with 405', (method) => {
    const response = answered(rewrite(event(method, '/introduction/a', UPGRADE)));
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toEqual({ value: 'GET, HEAD' });
  });

  it('recognises a WebSocket upgrade by its Sec-WebSocket-Key, the one sign CloudFront shows', () => {
    const keyOnly = rewrite(event('GET', '/introduction/a', { 'Sec-WebSocket-Key': 'x' }));
    expect(forwarded(keyOnly).uri).toBe('/dev');
    const noKey = rewrite(event('GET', '/introduction/a', { Upgrade: 'websocket' }));
    expect(answered(noKey).statusCode).toBe(404);
  });

  it('ignores Upgrade and Connection even when an event carries them', () => {
    // Built by hand, past the emulator: the function itself must not rely on these headers.
    const plain = event('GET', '/introduction/a');
    plain.request.headers.upgrade = { value: 'websocket' };
    plain.request.headers.connection = { value: 'Upgrade' };
    expect(answered(rewrite(plain)).statusCode).toBe(404);
  });
});

describe('the sandbox', () => {
  /** Loads a probe function that reports `expression`'s value from inside the sandbox. */
  function probe(expression: string): unknown {
    const fn = loadFunction(
      `function handler(event) {
        return { statusCode: 200, headers: {}, body: { encoding: 'text',
          data: JSON.stringify({ value: (function () { ${expression} })() }) } };
      }`,
    );
    const response = answered(fn(event('GET', '/')));
    return (JSON.parse(response.body?.data ?? '{}') as { value?: unknown }).value;
  }

  it.each([
    'require',
    'module',
    'exports',
    'process',
    'Buffer',
    'global',
    'setTimeout',
    'setImmediate',
    'clearTimeout',
    'fetch',
    'XMLHttpRequest',
    'WebAssembly',
    'Intl',
    'Proxy',
    'Reflect',
    'SharedArrayBuffer',
    'eval',
  ])('offers no %s', (name) => {
    expect(probe(`return typeof ${name};`)).toBe('undefined');
  });

  it('offers what the function uses: URI coding, JSON, Object.keys, String methods', () => {
    expect(
      probe(
        "return [typeof decodeURIComponent, typeof encodeURIComponent, typeof JSON.parse, typeof Object.keys, typeof ''.codePointAt, typeof URIError, typeof console.log];",
      ),
    ).toEqual(Array(7).fill('function'));
  });

  it('refuses code generation from strings', () => {
    expect(
      probe("try { new Function('return 1'); return 'ran'; } catch (e) { return e.name; }"),
    ).toBe('EvalError');
  });

  it('runs in strict mode', () => {
    expect(probe("try { undeclared = 1; return 'sloppy'; } catch (e) { return e.name; }")).toBe(
      'ReferenceError',
    );
  });

  it('removes methods CloudFront does not document', () => {
    expect(
      probe(
        "return [typeof ''.normalize, typeof ''.at, typeof Array.from, typeof [].flat, typeof Object.fromEntries, typeof ''.charCodeAt];",
      ),
    ).toEqual(Array(6).fill('undefined'));
    expect(probe("return [typeof ''.padStart, typeof [].includes, typeof Object.assign];")).toEqual(
      Array(3).fill('function'),
    );
  });

  it('hands console.log lines to the log option', () => {
    const lines: string[] = [];
    const fn = loadFunction(
      "function handler(event) { console.log('saw ' + event.request.uri); return event.request; }",
      { log: (line) => lines.push(line) },
    );
    fn(event('GET', '/x'));
    expect(lines).toEqual(['saw /x']);
  });

  it('reports a throwing function as a thrown error and keeps its log lines', () => {
    const lines: string[] = [];
    const fn = loadFunction(
      "function handler() { console.log('before'); throw new TypeError('boom'); }",
      { log: (line) => lines.push(line) },
    );
    expect(() => fn(event('GET', '/'))).toThrow('boom');
    expect(lines).toEqual(['before']);
  });

  it('rejects a source without a handler', () => {
    expect(() => loadFunction('var notAHandler = 1;')).toThrow(/handler/);
  });

  it("returns plain host objects and never touches the caller's event", () => {
    const original = event('GET', '/introduction/a', UPGRADE);
    const snapshot = structuredClone(original);
    const request = forwarded(rewrite(original));
    expect(original).toEqual(snapshot);
    expect(Object.getPrototypeOf(request)).toBe(Object.prototype);
    expect(request.querystring).toBeInstanceOf(Object);
  });
});

describe('the deployed source', () => {
  it('is the readable source with the stage substituted, minified', () => {
    const readable = rewriteSource('dev');
    expect(readable).toContain("var STAGE_PATH = '/dev';");
    expect(readable).not.toContain('__STAGE__');
    const deployed = edgeFunctionCode('dev');
    expect(deployed).toContain('"/dev"');
    expect(deployed).not.toContain('__STAGE__');
    expect(deployed).toMatch(/\bfunction handler\(/);
    expect(deployed).not.toMatch(/\/\*|\n/);
    expect(Buffer.byteLength(deployed)).toBeLessThan(Buffer.byteLength(readable) / 2);
  });

  it.each(['dev', 'prod', 'a'.repeat(128)])(
    'stays under the 6 KB budget for stage %s, far from CloudFront’s 10 KB limit',
    (stage) => {
      const bytes = Buffer.byteLength(edgeFunctionCode(stage), 'utf8');
      expect(bytes).toBeLessThan(EDGE_CODE_BUDGET_BYTES);
      expect(EDGE_CODE_BUDGET_BYTES).toBeLessThan(MAX_FUNCTION_CODE_BYTES);
    },
  );

  it('keeps to ES5 syntax and defines no module exports or requires', () => {
    for (const source of [rewriteSource('dev'), edgeFunctionCode('dev')]) {
      expect(source).not.toMatch(
        /\brequire\s*\(|module\.exports|\bexports\.|\bimport\b|\bexport\b/,
      );
      expect(source).not.toMatch(/=>|\b(?:let|const|class)\s/);
    }
  });

  it('behaves as the readable source does', () => {
    const readable = loadFunction(rewriteSource('dev'));
    for (const [method, url, headers] of [
      ['GET', '/', {}],
      ['GET', '/connection/a/b/k?token=t&type=x', UPGRADE],
      ['GET', '/connection/a/a/k', UPGRADE],
      ['GET', '/introduction/%E0%A4', UPGRADE],
      ['HEAD', '/introduction/a', UPGRADE],
      ['POST', '/', {}],
      ['GET', '/elsewhere', UPGRADE],
    ] as const) {
      expect(rewrite(event(method, url, headers))).toEqual(readable(event(method, url, headers)));
    }
  });

  it.each(['', 'a/b', "x'", 'x y', '$default', 'a'.repeat(129)])(
    'refuses the stage name %j',
    (name) => {
      expect(() => rewriteSource(name)).toThrow(/Invalid stage name/);
      expect(() => edgeFunctionCode(name)).toThrow(/Invalid stage name/);
      expect(() => loadRewrite(name)).toThrow(/Invalid stage name/);
    },
  );
});

describe('viewer-request events', () => {
  it('shapes a request as CloudFront does', () => {
    const shaped = viewerRequestEvent({
      method: 'GET',
      url: '/connection/a%20b/c/k?x=%2B1&flag&x=2',
      headers: { Host: 'example.com', 'X-Many': ['1', '2'], Cookie: 'a=1; b=2; a=3' },
    });
    expect(shaped).toEqual({
      version: '1.0',
      context: { eventType: 'viewer-request' },
      viewer: { ip: '127.0.0.1' },
      request: {
        method: 'GET',
        uri: '/connection/a%20b/c/k',
        querystring: {
          x: { value: '%2B1', multiValue: [{ value: '%2B1' }, { value: '2' }] },
          flag: { value: '' },
        },
        headers: {
          host: { value: 'example.com' },
          'x-many': { value: '1', multiValue: [{ value: '1' }, { value: '2' }] },
        },
        cookies: {
          a: { value: '1', multiValue: [{ value: '1' }, { value: '3' }] },
          b: { value: '2' },
        },
      },
    });
  });

  it('leaves out Upgrade and Connection, which CloudFront never shows a function', () => {
    const shaped = viewerRequestEvent({ method: 'GET', url: '/introduction/a', headers: UPGRADE });
    expect(shaped.request.headers).toEqual({
      'sec-websocket-key': { value: UPGRADE['Sec-WebSocket-Key'] },
      'sec-websocket-version': { value: '13' },
    });
  });

  it('round-trips a raw query string', () => {
    const raw = 'type=connection&localId=a%20b&x=1&x=2&empty=';
    expect(serializeQuerystring(parseQuerystring(raw))).toBe(raw);
  });
});

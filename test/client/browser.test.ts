/**
 * The browser bundle in a real browser: headless Chromium loads it from a page served here, opens
 * a SignalSocket over the browser's own WebSocket through the local gateway, and exchanges text
 * and binary (Blob and ArrayBuffer) with a Node peer, both ways.
 *
 * Chromium is Debian's `chromium` package (.ci/run installs it). Where it is missing the suite is
 * reported as skipped, with the reason, except under CI=true, where it must run.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientBundle } from '../../testing/client-bundle.js';
import { signalSocket } from '../../client/index.js';
import { backends, startTestGateway, type TestGateway } from '../support/gateway.js';
import { Endpoint, Ws, bytes, pairUrls } from '../support/signal-sockets.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM) || process.env.CI === 'true';
const title = available
  ? 'the browser bundle in headless Chromium'
  : `the browser bundle in headless Chromium — skipped: ${CHROMIUM} is missing (apt-get install chromium)`;

function serve(script: string): Promise<Server> {
  const page = `<!doctype html><meta charset="utf-8"><title>SignalSocket</title>
<script type="module">
  import { SignalSocket } from '/signal-socket.js';
  window.SignalSocket = SignalSocket;
  document.title = 'ready';
</script>`;
  const server = createServer((req, res) => {
    if (req.url === '/signal-socket.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(script);
    } else if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The page's globals used here (this project's TypeScript has no DOM library). */
interface PageSocket {
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  addEventListener(type: 'close', listener: (event: Closed) => void): void;
  send(data: unknown): void;
}
interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}
interface PageGlobals {
  SignalSocket: new (url: string) => PageSocket;
  document: { title: string };
}

interface BrowserResult {
  texts: string[];
  blob: { isBlob: boolean; bytes: number[] };
  buffer: { isArrayBuffer: boolean; bytes: number[] };
  close: { code: number; reason: string; wasClean: boolean };
}

describe.skipIf(!available)(title, () => {
  let gateway: TestGateway;
  let server: Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const [script, started] = await Promise.all([
      buildClientBundle().then((file) => file.text),
      startTestGateway(backends()[0]!, { invocationJitterMs: 5 }),
    ]);
    gateway = started;
    server = await serve(script);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.title === 'ready',
    );
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await gateway?.close();
  });

  it('exchanges text, Blob and ArrayBuffer messages with a Node peer, both ways', async () => {
    const [browserUrl, nodeUrl] = pairUrls(gateway.wsUrl(''));
    const node = new Endpoint(new (signalSocket({ WebSocket: Ws }))(nodeUrl));
    const inBrowser = page.evaluate(async (url): Promise<BrowserResult> => {
      const Socket = (globalThis as unknown as PageGlobals).SignalSocket;
      const socket = new Socket(url);
      const received: unknown[] = [];
      const closed = new Promise<Closed>((resolve) =>
        socket.addEventListener('close', (event) => resolve(event)),
      );
      socket.onmessage = (event) => {
        received.push(event.data);
        // The first binary message arrives as a Blob (the default); then ask for ArrayBuffers.
        if (typeof event.data !== 'string') socket.binaryType = 'arraybuffer';
      };
      await new Promise((resolve) => (socket.onopen = resolve));
      socket.send('héllo from the browser 🐟');
      socket.send(new Blob([new Uint8Array([0, 1, 2, 253, 254, 255])]));
      socket.send(new Uint8Array([9, 8, 7]).buffer);
      socket.send('x'.repeat(100_000));
      const close = await closed;
      const [text1, blob, buffer, text2] = received;
      return {
        texts: [text1, text2] as string[],
        blob: {
          isBlob: blob instanceof Blob,
          bytes: Array.from(new Uint8Array(await (blob as Blob).arrayBuffer())),
        },
        buffer: {
          isArrayBuffer: buffer instanceof ArrayBuffer,
          bytes: Array.from(new Uint8Array(buffer as ArrayBuffer)),
        },
        close: { code: close.code, reason: close.reason, wasClean: close.wasClean },
      };
    }, browserUrl);

    const fromBrowser = await node.until(4);
    expect(fromBrowser).toEqual([
      'héllo from the browser 🐟',
      new Uint8Array([0, 1, 2, 253, 254, 255]),
      new Uint8Array([9, 8, 7]),
      'x'.repeat(100_000),
    ]);
    const binary = bytes(300, 1);
    node.socket.send('from node ✓');
    node.socket.send(binary);
    node.socket.send(bytes(40_000, 2));
    node.socket.send('bye');
    node.socket.close(4000, 'done');

    const result = await inBrowser;
    expect(result.texts).toEqual(['from node ✓', 'bye']);
    expect(result.blob).toEqual({ isBlob: true, bytes: Array.from(binary) });
    expect(result.buffer).toEqual({ isArrayBuffer: true, bytes: Array.from(bytes(40_000, 2)) });
    expect(result.close).toEqual({ code: 4000, reason: 'done', wasClean: true });
  });
});

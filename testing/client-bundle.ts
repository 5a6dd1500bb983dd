/**
 * The one build of client/: the esbuild options of SignalSocket's ES module, shared by the
 * package's build (`npm run build:client`, scripts/build-client.ts), the bench's size measurement
 * and the browser test, so all three see the same bytes.
 */
import { build, type BuildOptions, type OutputFile } from 'esbuild';
import { fileURLToPath } from 'node:url';

/**
 * Properties the client's classes and records share among themselves and nobody else reads. The
 * minifier shortens them as it does `#private` fields, which keeps the bundle within 7 KB
 * gzipped. Never list a name of the public surface (docs/transport.md) or one that belongs to
 * another object (a WebSocket's `send`, a Map's `has`, an event's `data`): that would break it.
 */
const INTERNAL_PROPERTIES = [
  ...['finished', 'lingering', 'session', 'peerSession', 'ready', 'confirmed', 'early'],
  ...['helloTimer', 'lingerTimer', 'attempts', 'lastKind', 'sender', 'receiver', 'writeHello'],
  ...['armHello', 'onRelayFrame', 'dropSocket', 'onResumed', 'finish', 'fail', 'write', 'state'],
  ...['binaryKind', 'onBinaryType', 'sent', 'closeRequest', 'dataFrames', 'resentFrames'],
  ...['ackFrames', 'acknowledged', 'ackSoon', 'schedulePump', 'pump', 'onAcks', 'onWrite'],
  ...['onNewSocket', 'throttled', 'buffered', 'unacknowledged', 'acked', 'received', 'ranges'],
  ...['acks', 'heard', 'onDropped', 'srtt', 'minRtt', 'onRtt', 'onThrottled', 'slot'],
  ...['closeAcknowledged', 'progress', 'canSend', 'writeData', 'headSent', 'appBytes'],
  ...['lastBytes', 'copies', 'sacked', 'lost', 'order', 'sentAt', 'resent', 'segment', 'seq'],
  ...['urgent', 'remaining', 'parts', 'head', 'ascii', 'ack', 'hellos', 'errors', 'connects'],
  'frames',
];

/** One minified ES module, no Node built-ins: it runs in browsers and in Node ≥ 20 alike. */
export const CLIENT_BUNDLE = {
  mangleProps: new RegExp(`^(${INTERNAL_PROPERTIES.join('|')})$`),
  entryPoints: [fileURLToPath(new URL('../client/index.ts', import.meta.url))],
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2022',
  platform: 'neutral',
} as const satisfies BuildOptions;

/** The bundle in memory. */
export async function buildClientBundle(): Promise<OutputFile> {
  const result = await build({ ...CLIENT_BUNDLE, write: false });
  return result.outputFiles[0]!;
}

/** The bundle written to `outfile` (the package's dist/index.js). */
export async function writeClientBundle(outfile: string): Promise<void> {
  await build({ ...CLIENT_BUNDLE, outfile, logLevel: 'warning' });
}

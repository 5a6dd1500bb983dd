/** cevitxe-signal-client@0.4.2 in tests: stopping a client for good when its test ends. */
import type { Client } from 'cevitxe-signal-client';

/** What of a client's sockets a test touches: any WebSocket-like socket. */
interface Closable {
  onclose: unknown;
  close(): void;
}

/**
 * Stops a client for good: no reconnecting, its introduction socket and every relay socket
 * closed. A reconnect the client scheduled before (its socket was cut or closed by the server)
 * must not run after the test either: it would open a socket with whatever `WebSocket` the global
 * then holds, so the client's connect is made to do nothing.
 */
export function stopClient(client: Client): void {
  const reconnecting = client as unknown as { connectToServer: () => unknown };
  reconnecting.connectToServer = () => client.serverConnection;
  const server = client.serverConnection as unknown as Closable;
  server.onclose = null;
  server.close();
  for (const peer of client.peers.values())
    for (const key of client.keys) (peer.get(key) as unknown as Closable | undefined)?.close();
}

/**
 * The bench's sockets: the one test client (testing/socket.ts), plain (no test tag, no
 * compression), with 10 s to open.
 */
import { TestSocket } from '../testing/socket.js';

export const openSocket = (url: string) =>
  TestSocket.open(url, { within: 10_000, perMessageDeflate: false, tagged: false });

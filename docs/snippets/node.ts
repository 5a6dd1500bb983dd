import WebSocket from 'ws';
import { signalSocket } from 'cevitxe-signal-socket';

// Node has no WebSocket of its own before v22; SignalSocket runs over `ws`.
globalThis.WebSocket = signalSocket({ WebSocket, keepAliveMs: 5 * 60_000 });

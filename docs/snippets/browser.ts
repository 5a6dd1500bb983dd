import { SignalSocket } from 'cevitxe-signal-socket';

// Before the app opens its sockets: cevitxe-signal-client and any other code now use it.
globalThis.WebSocket = SignalSocket;

import { Client } from 'cevitxe-signal-client';
import WebSocket from 'ws';

globalThis.WebSocket = WebSocket; // Node 20 has no WebSocket of its own

const url = 'ws://localhost:8080';
let heard = 0;
for (const id of ['alice', 'bob']) {
  const client = new Client({ id, url });
  client.on('peer', (peer, key) => {
    const socket = peer.get(key);
    socket.onmessage = ({ data }) => {
      console.log(`${id} got: ${data}`);
      if (++heard === 2) process.exit(0); // the clients reconnect forever: stop here
    };
    socket.send(`Hello from ${id}!`);
  });
  client.join('happy-raccoon');
}

/**
 * The sockets-per-peer-id bound against an impostor, through the local gateway: the protocol has
 * no authentication, so anyone can open sockets under a victim's peer id. At the bound the
 * victim's active socket stays open (and keeps working); the impostor's extra handshake is
 * refused with 429 and a body saying why.
 */
import { describe, expect, it } from 'vitest';
import { refusal } from '../../testing/socket.js';
import { backends } from '../support/gateway.js';
import { gatewaySuite } from '../support/suite.js';

const MAX_SOCKETS = 3;

describe.each(backends())('sockets per peer id against an impostor on $name', (backend) => {
  const suite = gatewaySuite(backend, { limits: { maxSocketsPerPeer: MAX_SOCKETS } });
  const { name, open, quiet } = suite;

  it('never closes an active socket for an impostor’s new ones: the extra handshake gets 429', async () => {
    const victim = name('victim');
    const key = name('doc');
    const victimSocket = await open(`/introduction/${victim}`);

    // The impostor fills the bound under the victim's id, then tries once more, many times.
    for (let i = 1; i < MAX_SOCKETS; i++) await open(`/introduction/${victim}`);
    for (let i = 0; i < 3; i++) {
      const refused = await refusal(suite.gateway.wsUrl(`/introduction/${victim}`));
      expect(refused.status).toBe(429);
      expect(refused.body).toContain(`${MAX_SOCKETS} open introduction sockets, all active`);
    }
    await quiet(victimSocket);
    expect(victimSocket.isOpen).toBe(true);

    // The victim's socket still works: its Join introduces it to a peer of the key.
    const other = await open(`/introduction/${name('other')}`);
    other.send({ type: 'Join', join: [key] });
    await quiet(other);
    victimSocket.send({ type: 'Join', join: [key] });
    expect(await victimSocket.nextJson()).toEqual({
      type: 'Introduction',
      id: name('other'),
      keys: [key],
    });
  });
});

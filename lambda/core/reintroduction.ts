/**
 * Help for unchanged clients after API Gateway cuts a relay socket. cevitxe-signal-client opens
 * a relay socket only when introduced, so a pair cut for being idle (10 minutes) or too old
 * (2 hours) would stay apart until its next introduction. When the platform cut a paired plain
 * socket and both peers still share the key on an open introduction socket, the server
 * introduces them again for that key, and the client re-pairs at once.
 *
 * The rule, which tells a platform cut from a departing peer:
 * - `$disconnect` says 1001 "Going away": API Gateway's wording for its own cuts. A browser
 *   leaving a page closes with 1001 and no reason; a deliberate close says 1000 (or 1005).
 * - After REINTRODUCE_AFTER_MS both peers' records still hold the key: a peer departing closes
 *   its introduction socket with its relay sockets, and its last introduction socket's
 *   `$disconnect` removes its record. The pause also lets the other side's relay socket,
 *   closed by the server, be closed at its client before the introduction arrives (the client
 *   ignores an introduction for a key it still has a socket for).
 * - Only plain sockets: a SignalSocket transport resumes the same relay by itself.
 */
import type { Context } from './context.js';
import { introduction } from './protocol.js';
import type { RelayConnection } from './store.js';
import { sleep } from './util.js';

/** How long after a cut the peers are checked and introduced again. */
export const REINTRODUCE_AFTER_MS = 1_000;

/** API Gateway's own close of an idle or too-old socket, as `$disconnect` reports it. */
export const isPlatformCut = (code: number | undefined, reason: string | undefined): boolean =>
  code === 1001 && reason === 'Going away';

/** At the `$disconnect` of a relay socket the platform cut: introduce its two peers again. */
export async function reintroduceAfterCut(ctx: Context, socket: RelayConnection): Promise<void> {
  if (!socket.peer || socket.transport) return;
  await sleep(REINTRODUCE_AFTER_MS);
  const { localId, remoteId, key } = socket;
  const peers = await ctx.store.getPeers([localId, remoteId]);
  const local = peers.find((peer) => peer.peerId === localId);
  const remote = peers.find((peer) => peer.peerId === remoteId);
  if (!local?.keys.includes(key) || !remote?.keys.includes(key)) {
    ctx.log.info('relay cut by the platform: peers no longer share the key, not introduced', {
      localId,
      remoteId,
    });
    return;
  }
  const [toLocal, toRemote] = await Promise.all([
    ctx.messenger.post(local.current, JSON.stringify(introduction(remoteId, [key]))),
    ctx.messenger.post(remote.current, JSON.stringify(introduction(localId, [key]))),
  ]);
  ctx.metrics.count('Introductions', Number(toLocal === 'sent') + Number(toRemote === 'sent'));
  ctx.log.info('relay cut by the platform: peers introduced again', {
    localId,
    remoteId,
    delivered: [toLocal, toRemote],
  });
}

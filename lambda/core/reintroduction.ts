/**
 * After API Gateway cuts a paired plain relay socket (idle 10 min, or 2 h old: `$disconnect`
 * 1001 "Going away"), its two peers, if they still share the key a moment later, are introduced
 * again so that cevitxe-signal-client re-pairs at once. See docs/reliability.md.
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
  const peers = await ctx.store.peers.getPeers([localId, remoteId]);
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

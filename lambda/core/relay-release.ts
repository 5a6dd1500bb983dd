/**
 * Letting a relay socket go: its records removed, its held frames dropped, its peer closed (or
 * its place in the rendezvous given up). Used by relay, delivery and $disconnect alike.
 */
import type { Context } from './context.js';
import type { PairCache } from './pair-cache.js';
import { closeWhenReady } from './readiness.js';
import type { RelayConnection } from './store.js';

/** The peer answered 410 for good: remove its records and close the sender. */
export async function peerGone(ctx: Context, sender: string, peer: string): Promise<void> {
  ctx.metrics.count('Gone');
  ctx.log.info('relay peer gone: closing sender', { peerConnectionId: peer });
  const stale = await dropRelay(ctx, peer);
  if (stale?.peer !== sender) await ctx.messenger.close(sender);
}

/**
 * Removes a relay socket's records; closes its peer (or withdraws it from the rendezvous).
 * Used at $disconnect and for sockets found gone. Returns what was removed.
 */
export async function dropRelay(
  ctx: Context,
  connectionId: string,
  cache?: PairCache,
): Promise<RelayConnection | undefined> {
  cache?.delete(connectionId);
  const socket = await ctx.store.connections.removeConnection(connectionId);
  if (!socket || socket.kind !== 'relay') return undefined;
  await releaseRelay(ctx, socket, cache);
  return socket;
}

/** After a relay socket's record is removed: close its peer or leave the rendezvous. */
export async function releaseRelay(
  ctx: Context,
  socket: RelayConnection,
  cache?: PairCache,
): Promise<void> {
  const { connectionId } = socket;
  cache?.delete(connectionId);
  // Held frames first: if closing the peer fails, nothing of this socket is left behind.
  if (socket.seq) await ctx.store.relays.removeHeld(connectionId);
  if (socket.peer) {
    cache?.delete(socket.peer);
    await closeWhenReady(ctx, socket.peer, socket.pairedAt ?? 0);
  } else {
    await ctx.store.relays.leaveRendezvous(socket, connectionId);
  }
}

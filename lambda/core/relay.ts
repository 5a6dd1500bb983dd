/**
 * Relay sockets (docs/protocol.md): `/connection/A/B/key` pairs with `/connection/B/A/key`. Frames are
 * held in DynamoDB until the deliver function has flushed them to the peer; then each goes
 * straight, with the peer cached in the warm function. See docs/reliability.md.
 */
import type { Context } from './context.js';
import { afterHandOver } from './hand-over.js';
import type { PairCache, Pairing } from './pair-cache.js';
import { errorReply, transportMismatch, type Transport } from './protocol.js';
import { closeWhenReady, mayBeConnecting, postWhenReady } from './readiness.js';
import { peerGone } from './relay-release.js';
import { closeBestEffort, retryUntil } from './retry.js';
import type { RelayConnection } from './store.js';

type RelayRequest = Pick<RelayConnection, 'localId' | 'remoteId' | 'key' | 'transport'>;

/**
 * At $connect: wait for the reciprocal socket, or pair with the one already waiting. Returns why
 * the handshake must be refused with 409 (the two sockets speak different transports), if so.
 */
export async function openRelay(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  connectedAt: number,
): Promise<string | undefined> {
  if (
    !(await ctx.store.connections.putConnection({
      kind: 'relay',
      connectionId,
      connectedAt,
      ...request,
    }))
  ) {
    // A duplicate $connect for this socket: once paired, pairing it again would put it back in
    // the rendezvous beside its pair. Unpaired, meeting again is harmless (it is the same socket).
    const existing = await ctx.store.connections.getConnection(connectionId);
    if (existing?.kind === 'relay' && existing.peer) {
      ctx.log.info('duplicate $connect of a paired relay socket: nothing to do');
      return undefined;
    }
  }
  try {
    return await pairOrWait(ctx, connectionId, request);
  } catch (error) {
    const claimed = error instanceof ClaimedPairingFailed ? error : undefined;
    await abandonRelay(ctx, connectionId, request, claimed?.claimed);
    throw claimed ? claimed.cause : error;
  }
}

/** Pairing failed after claiming a waiting socket, which is out of the rendezvous now. */
class ClaimedPairingFailed extends Error {
  constructor(
    readonly claimed: string,
    override readonly cause: unknown,
  ) {
    super('relay pairing failed after claiming the waiting socket', { cause });
  }
}

/**
 * Undoes a $connect that failed after recording its socket (no $disconnect will come for it): no
 * socket may stay paired with it or wait for it; one it had claimed is closed, and reconnects.
 */
async function abandonRelay(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  claimed: string | undefined,
): Promise<void> {
  try {
    await ctx.store.connections.removeConnection(connectionId);
    await ctx.store.relays.leaveRendezvous(request, connectionId);
    if (claimed) await closeWhenReady(ctx, claimed);
  } catch (error) {
    ctx.log.error('could not undo a failed relay $connect', { error });
  }
}

async function pairOrWait(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const met = await ctx.store.relays.meet(request, connectionId);
    if ('waiting' in met) {
      if (met.replaced) {
        // A newer socket for the same (A, B, key) replaces the waiting one, which is closed.
        await closeWhenReady(ctx, met.replaced);
        ctx.log.info('waiting relay socket replaced', { replacedConnectionId: met.replaced });
      }
      ctx.log.info('relay socket waiting', { localId: request.localId });
      return undefined;
    }
    const outcome = await pairWithClaimed(ctx, connectionId, request, met);
    if (outcome !== 'wait in its place') return outcome.refusal;
  }
  throw new Error('relay pairing kept failing');
}

/**
 * Pairs with the socket claimed from the rendezvous; 'wait in its place' when it turned out to
 * be gone. A failure is thrown as ClaimedPairingFailed: the claimed socket is out of the
 * rendezvous, where no reciprocal socket can ever find it, so it must be closed.
 */
async function pairWithClaimed(
  ctx: Context,
  connectionId: string,
  request: RelayRequest,
  met: { paired: string; transport?: Transport },
): Promise<{ refusal?: string } | 'wait in its place'> {
  const first = met.paired;
  if (!(await isWaitingAlive(ctx, first))) {
    // It vanished without $disconnect: pairing with it would leave its client's next socket
    // waiting alone. Forget it and wait in its place.
    const vanished = await ctx.store.connections.removeConnection(first);
    if (vanished?.kind === 'relay' && vanished.seq) await ctx.store.relays.removeHeld(first);
    ctx.metrics.count('Gone');
    ctx.log.info('waiting relay socket vanished: waiting in its place', {
      vanishedConnectionId: first,
    });
    return 'wait in its place';
  }
  try {
    const mismatch = transportMismatch(request.transport, met.transport);
    if (mismatch)
      return { refusal: await refuseMismatch(ctx, connectionId, first, met.transport, mismatch) };
    const pairedAt = ctx.now();
    const waiting = await ctx.store.relays.setPeer(first, connectionId, pairedAt, false);
    if (!waiting) return 'wait in its place'; // it left as we claimed it
    // This socket cannot have sent anything yet (its $connect has not returned): it is flushed.
    await ctx.store.relays.setPeer(connectionId, first, pairedAt, true);
    ctx.metrics.count('PairsMade');
    ctx.log.info('relay pair made', { peerConnectionId: first, held: waiting.seq ?? 0 });
    if (!waiting.seq && (await ctx.store.relays.markFlushed(first, 0))) return {};
    await ctx.deliveryInvoker.deliverLater({ from: first, to: connectionId, pairedAt });
    return {};
  } catch (error) {
    throw new ClaimedPairingFailed(first, error);
  }
}

/**
 * A transport socket met a plain one (or another transport): never paired. The waiting one is
 * told why and closed; the arriving one is refused at its handshake. Returns the reason.
 */
async function refuseMismatch(
  ctx: Context,
  connectionId: string,
  waiting: string,
  waitingTransport: Transport | undefined,
  reason: string,
): Promise<string> {
  ctx.log.warn('relay sockets of a pair use different transports: not paired', {
    peerConnectionId: waiting,
    reason,
  });
  if (waitingTransport) {
    const told = JSON.stringify(errorReply(transportMismatch(waitingTransport, undefined)!));
    await postWhenReady(ctx, waiting, told);
  }
  await closeWhenReady(ctx, waiting);
  await ctx.store.connections.removeConnection(connectionId);
  return reason;
}

/**
 * Whether a waiting socket is still there (GetConnection). A 410 from a socket that may still be
 * inside its $connect is not conclusive, and a failed check pairs as before: the first post
 * then finds out.
 */
async function isWaitingAlive(ctx: Context, connectionId: string): Promise<boolean> {
  try {
    if (await ctx.messenger.isAlive(connectionId)) return true;
    return await mayBeConnecting(ctx, connectionId);
  } catch (error) {
    ctx.log.warn('could not check the waiting relay socket: pairing with it', { error });
    return true;
  }
}

/** A frame from a socket whose flushed pairing this warm function knows: straight to the peer. */
export const onPairedFrame = (
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  pairing: Pairing,
  body: string,
): Promise<void> =>
  passOnOrClose(ctx, cache, connectionId, pairing.peer, () =>
    forward(ctx, cache, connectionId, pairing, body),
  );

/** A frame from a socket read from the store: relay (undefined when it has no record). */
export const onRelayFrame = (
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  socket: RelayConnection | undefined,
  body: string,
  receivedAt: number,
): Promise<void> =>
  passOnOrClose(ctx, cache, connectionId, socket?.peer, () =>
    relayFrame(ctx, cache, socket, { connectionId, body, receivedAt }),
  );

/**
 * Never throws: API Gateway would write its internal-error frame into the sender's stream. A
 * frame that cannot be held or posted within the route's budget closes the sender and its peer
 * instead, so that no frame is lost while both stay open.
 */
async function passOnOrClose(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  peer: string | undefined,
  passOn: () => Promise<void>,
): Promise<void> {
  try {
    await passOn();
  } catch (error) {
    ctx.metrics.count('Errors');
    ctx.log.error('relay frame could not be passed on: closing the pair', { error });
    cache.delete(connectionId);
    await closeBestEffort(ctx, peer ? [connectionId, peer] : [connectionId]);
  }
}

async function relayFrame(
  ctx: Context,
  cache: PairCache,
  socket: RelayConnection | undefined,
  { connectionId, body, receivedAt }: { connectionId: string; body: string; receivedAt: number },
): Promise<void> {
  if (!socket) {
    await ctx.messenger.close(connectionId);
    return;
  }
  if (socket.peer && socket.pairedAt && socket.flushed) {
    await afterHandOver(ctx, socket);
    return forward(
      ctx,
      cache,
      connectionId,
      { peer: socket.peer, pairedAt: socket.pairedAt },
      body,
    );
  }

  // The frame's write is retried under the number it took. A counter whose answer was lost
  // leaves a gap (the deliverer waits, then skips it): the frame itself is held under a later one.
  const until = ctx.waitUntil;
  const held = await retryUntil(ctx, until, 'counting a held frame', () =>
    ctx.store.relays.countHeld(connectionId, Buffer.byteLength(body), ctx.limits),
  );
  if ('seq' in held) {
    const written = await retryUntil(ctx, until, 'writing a held frame', () =>
      ctx.store.relays.writeHeld(connectionId, held.seq, body, receivedAt),
    );
    if (written) {
      ctx.metrics.count('FramesHeld');
      ctx.log.debug('frame held', { seq: held.seq, paired: Boolean(socket.peer) });
      return;
    }
    // The deliverer waited for this frame, then skipped its number: closing is the only honest
    // answer, since the peer will never receive it.
    ctx.metrics.count('Errors');
    ctx.log.error('a held frame was written after the deliverer skipped it: closing the pair');
    cache.delete(connectionId);
    // The record read before this frame may predate the pairing: read the peer afresh.
    const now = await ctx.store.connections.getConnection(connectionId).catch(() => undefined);
    const peer = (now?.kind === 'relay' && now.peer) || socket.peer;
    await closeBestEffort(ctx, peer ? [connectionId, peer] : [connectionId]);
  } else if ('flushed' in held) {
    // Delivery finished between our read and our hold: the direct path is open.
    const { peer, pairedAt } = held.flushed;
    await afterHandOver(ctx, held.flushed);
    if (peer && pairedAt) await forward(ctx, cache, connectionId, { peer, pairedAt }, body);
  } else if ('full' in held) {
    ctx.log.warn('held frames over the limit: socket closed', {
      maxHeldFrames: ctx.limits.maxHeldFrames,
      maxHeldBytes: ctx.limits.maxHeldBytes,
    });
    await ctx.messenger.close(connectionId);
  }
}

async function forward(
  ctx: Context,
  cache: PairCache,
  connectionId: string,
  pairing: Pairing,
  body: string,
): Promise<void> {
  cache.set(connectionId, pairing);
  const result = await retryUntil(ctx, ctx.waitUntil, 'posting a relay frame', () =>
    postWhenReady(ctx, pairing.peer, body, pairing.pairedAt),
  );
  if (result === 'sent') {
    ctx.metrics.count('FramesRelayed');
    return;
  }
  cache.delete(connectionId);
  await peerGone(ctx, connectionId, pairing.peer);
}

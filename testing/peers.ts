/**
 * Setting up introduction peers straight in the store, for the tests and the bench: a crowd on
 * one key joined through the handlers would cost peers² introductions.
 */
import type { PeerRecord, PeerStore } from '../lambda/core/store.js';

/**
 * Gives a registered peer `keys`, as a Join writes them (indexed first, then the key set) but
 * without its fan-out. Throws if the peer has no record or its key set changed meanwhile.
 */
export async function recordKeys(
  store: PeerStore,
  peerId: string,
  keys: string[],
): Promise<PeerRecord> {
  const peer = await store.getPeer(peerId);
  if (!peer) throw new Error(`peer ${peerId} has no record`);
  await store.indexKeys(peerId, peer.session, keys, peer.version + 1);
  const written = await store.setKeys(peer, keys);
  if (!written) throw new Error(`the key set of peer ${peerId} changed meanwhile`);
  return written;
}

/** The ids of the peers indexed under `key`, most recent first (entries may be stale). */
export async function peersIndexedUnder(store: PeerStore, key: string): Promise<string[]> {
  return (await store.joinersOfKey(key)).map((joiner) => joiner.peerId);
}

/**
 * What a warm function remembers of the relay pairs it has seen flushed: a frame from one of
 * their sockets goes straight to its peer, with no read of its record.
 */

/** A flushed socket's peer and when the two were paired. */
export interface Pairing {
  peer: string;
  pairedAt: number;
}

/** Peers of flushed sockets, per warm function. Bounded: the oldest entries go first. */
export class PairCache {
  private readonly pairs = new Map<string, Pairing>();

  constructor(private readonly capacity = 10_000) {}

  get(connectionId: string): Pairing | undefined {
    return this.pairs.get(connectionId);
  }

  set(connectionId: string, pairing: Pairing): void {
    this.pairs.delete(connectionId);
    this.pairs.set(connectionId, pairing);
    if (this.pairs.size > this.capacity) this.pairs.delete(this.pairs.keys().next().value!);
  }

  delete(connectionId: string): void {
    this.pairs.delete(connectionId);
  }

  get size(): number {
    return this.pairs.size;
  }
}

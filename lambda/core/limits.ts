/** The protocol's limits (docs/protocol.md, "Protocol limits"). Every one is configurable per stage. */
export interface Limits {
  /** Longest peer id or document key, in UTF-16 code units. @default 256 */
  readonly maxIdLength: number;
  /** Most keys one peer id may hold at once. @default 256 */
  readonly maxKeysPerPeer: number;
  /** Most keys in one Join or Leave list. @default 256 */
  readonly maxKeysPerMessage: number;
  /**
   * Most frames held for a relay socket whose peer has not arrived (PAIRED_HOLD_FACTOR times
   * that once it has). @default 256
   */
  readonly maxHeldFrames: number;
  /** Most bytes held for a relay socket whose peer has not arrived (likewise). @default 1 MiB */
  readonly maxHeldBytes: number;
  /** Most peers one introduction message may introduce: the most recent joiners. @default 1000 */
  readonly maxFanOut: number;
  /**
   * Most open sockets of one peer id. At the bound a socket gone or idle past SOCKET_IDLE_SECONDS
   * makes room; when every one is active, the newcomer's handshake is refused with 429. Each
   * refused handshake asks API Gateway about every socket (one GetConnection each), so the bound
   * is kept small: a client needs one socket, two while it reconnects. @default 8
   */
  readonly maxSocketsPerPeer: number;
  /**
   * A Join of keys the peer already holds re-introduces it at most once per this many seconds,
   * except the first Join on each socket (a reconnect). See docs/protocol.md. @default 60
   */
  readonly reintroductionWindowSeconds: number;
  /**
   * The stage's budget of introduction posts a minute, shared by every peer: a Join whose
   * fan-out finds it spent is told so, and its socket is closed, so that its client reconnects
   * and joins again (docs/protocol.md, "The introduction budget"). No other bound holds the bill
   * of a Join flood: whoever holds many sockets can make each of them join, and every Join of a
   * key shared by maxFanOut peers costs 2 × maxFanOut posts. At least
   * INTRODUCTION_BUDGET_SHARDS × 2 × maxFanOut, so that the largest fan-out fits. @default 60000
   */
  readonly introductionPostsPerMinute: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxIdLength: 256,
  maxKeysPerPeer: 256,
  maxKeysPerMessage: 256,
  maxHeldFrames: 256,
  maxHeldBytes: 1024 * 1024,
  maxFanOut: 1000,
  maxSocketsPerPeer: 8,
  reintroductionWindowSeconds: 60,
  introductionPostsPerMinute: 60_000,
};

/**
 * The introduction budget is kept in this many items a minute, each a share of it, taken at
 * random: one item would take every introducing Join's write, and DynamoDB serves about 1,000
 * writes a second on one item.
 */
export const INTRODUCTION_BUDGET_SHARDS = 4;

/**
 * A socket that carried no frame for this long is idle, and may be evicted to make room for a
 * peer id's new socket: the client transport's keep-alive (5 minutes) with a minute's margin.
 */
export const SOCKET_IDLE_SECONDS = 6 * 60;

/**
 * Once its peer has arrived, a relay socket may hold this many times maxHeldFrames and
 * maxHeldBytes while the deliver function drains them: frames held before pairing are posted one
 * at a time (docs/reliability.md, "Frame order"), 100 of them take 2 s at 20 ms a post, and a
 * sender that goes on sending meanwhile must not be closed for frames that are on their way.
 */
export const PAIRED_HOLD_FACTOR = 4;

/** API Gateway's own frame limit: a larger frame closes the connection with 1009. */
export const MAX_FRAME_BYTES = 32 * 1024;

/** API Gateway closes every WebSocket connection after two hours. */
export const MAX_CONNECTION_SECONDS = 2 * 60 * 60;

/** Records outlive the longest possible connection by this margin before TTL may remove them. */
export const TTL_MARGIN_SECONDS = 10 * 60;

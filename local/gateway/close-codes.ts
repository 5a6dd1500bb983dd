/**
 * Close codes and reasons as API Gateway uses them; the evidence for each (captured events, AWS
 * threads) is in docs/local-vs-aws.md. A socket the client closes reports its own code and reason.
 */
export const CLOSE = {
  // Idle timeout and 2-hour limit: 1001 "Going away", as a captured $disconnect shows.
  IDLE: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  MAX_DURATION: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  // DeleteConnection takes no code or reason: always 1000.
  DELETED: { code: 1000, reason: 'Connection Closed Normally', frameReason: '' },
  // ws's maxPayload bounds a whole message: stricter than AWS's 128 KB for fragments, never laxer.
  BINARY: { code: 1003, reason: 'Binary frames are not supported', frameReason: '' },
  TOO_BIG: { code: 1009, reason: 'Frame too big', frameReason: '' },
  SHUTDOWN: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
} as const;

export type CloseCause = (typeof CLOSE)[keyof typeof CLOSE];

/**
 * Close codes and reasons, each as API Gateway uses it.
 *
 * - IDLE, MAX_DURATION: 1001 "Going away". A captured AWS `$disconnect` event of a socket left
 *   idle for ten minutes carries `disconnectStatusCode: 1001, disconnectReason: "Going away"`
 *   (connectedAt 1708326702789, requestTimeEpoch 1708327306706: 10 min 4 s later). The 2-hour
 *   limit is the same kind of server-side "going away"; no capture of it was found, so it is
 *   assumed to close alike.
 * - DELETED: DeleteConnection closes with 1000; its `$disconnect` says
 *   `disconnectStatusCode: 1000, disconnectReason: "Connection Closed Normally"` (API Gateway
 *   execution logs quoted in boto/boto3#3789 and aws/chalice#2060). DeleteConnection takes no
 *   code or reason (aws/aws-sdk-js#3636), so no handler can close with anything else.
 * - BINARY: 1003, TOO_BIG: 1009, as ../shared/API-GATEWAY.md states. The close frame carries no
 *   reason (ws closes a too-big frame with a bare 1009; 1003 matches it); the `$disconnect`
 *   reason is our own wording, since no AWS capture of either was found. ws's maxPayload bounds
 *   a whole message, so a message fragmented into frames of 32 KB or less but longer in total
 *   is refused here, where AWS would take up to 128 KB: stricter, never laxer.
 * - SHUTDOWN: the gateway itself stopping, also "going away" (RFC 6455, 7.4.1).
 * - A socket the client closes reports the client's own code and reason (1005 when it sent
 *   none, 1006 when the TCP connection dropped), as the captured `1001, ""` of a browser
 *   leaving shows.
 */
export const CLOSE = {
  IDLE: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  MAX_DURATION: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
  DELETED: { code: 1000, reason: 'Connection Closed Normally', frameReason: '' },
  BINARY: { code: 1003, reason: 'Binary frames are not supported', frameReason: '' },
  TOO_BIG: { code: 1009, reason: 'Frame too big', frameReason: '' },
  SHUTDOWN: { code: 1001, reason: 'Going away', frameReason: 'Going away' },
} as const;

export type CloseCause = (typeof CLOSE)[keyof typeof CLOSE];

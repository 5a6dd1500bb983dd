/**
 * The single DynamoDB table's key and TTL attribute names, shared by the store (lambda/) and
 * the table definition (lib/signal-server.ts) so the two cannot drift apart.
 *
 * - `pk`, `sk`: partition and sort key, both strings. No secondary index.
 * - `expiresAt`: TTL attribute, epoch seconds. TTL deletion is lazy, so reads filter expired items.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'expiresAt',
} as const;

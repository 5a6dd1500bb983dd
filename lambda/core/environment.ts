/**
 * The functions' runtime contract: the environment variables the construct sets
 * (lib/signal-server.ts) and the runtime reads at a cold start (lambda/runtime.ts), named once.
 */
export const ENVIRONMENT = {
  /** The DynamoDB table (required). */
  tableName: 'TABLE_NAME',
  /** The stage's management (callback) URL (required). */
  managementEndpoint: 'MANAGEMENT_ENDPOINT',
  /** The deliver function; set for the $connect function only. */
  deliverFunctionName: 'DELIVER_FUNCTION_NAME',
  /** Protocol limits as a JSON object, merged over DEFAULT_LIMITS. */
  limits: 'LIMITS',
  /** debug, info, warn or error. */
  logLevel: 'LOG_LEVEL',
  /** The stage name: the metrics dimension. */
  stage: 'STAGE',
  /** Origins allowed at $connect, comma-separated; $connect only. */
  allowedOrigins: 'ALLOWED_ORIGINS',
  /** The shared token checked at $connect; $connect only. */
  connectToken: 'CONNECT_TOKEN',
  /** The edge's secret, which $connect requires in the X-Origin-Verify header; $connect only. */
  edgeSecret: 'EDGE_SECRET',
} as const;

/**
 * AWS list prices for the cost model: us-east-1, on-demand, first pricing tier, in US dollars.
 * The one table of prices in the source; the cost model reads nothing else.
 *
 * Copied on PRICES_AS_OF from AWS's pricing pages (docs/performance.md, "Modelled price", prints
 * this table). Not re-checked online
 * (this machine is offline): check https://aws.amazon.com/api-gateway/pricing/,
 * https://aws.amazon.com/lambda/pricing/ and https://aws.amazon.com/dynamodb/pricing/on-demand/
 * before quoting a figure, and update the table and its date together.
 */
export const PRICES_AS_OF = '2026-11-25';

export const PRICES = {
  /** API Gateway WebSocket: per message in or out, metered in 32 KB steps (first billion a month). */
  webSocketMessage: 1.0 / 1e6,
  /** API Gateway WebSocket: per connection minute. */
  connectionMinute: 0.25 / 1e6,
  /** Lambda: per request (invocation). */
  lambdaRequest: 0.2 / 1e6,
  /** Lambda on arm64 (the functions' architecture): per GB-second of duration. */
  lambdaArmGbSecond: 0.0000133334,
  /** DynamoDB on demand: per write request unit (1 KB written; a failed conditional write too). */
  dynamoDbWriteUnit: 0.625 / 1e6,
  /** DynamoDB on demand: per read request unit (a strongly consistent read of up to 4 KB). */
  dynamoDbReadUnit: 0.125 / 1e6,
} as const;

export type PriceItem = keyof typeof PRICES;

/** How each price is shown, per million units, with its unit. */
export const PRICE_LABELS: Record<PriceItem, string> = {
  webSocketMessage: 'WebSocket messages (in or out, per 32 KB)',
  connectionMinute: 'WebSocket connection minutes',
  lambdaRequest: 'Lambda requests',
  lambdaArmGbSecond: 'Lambda arm64 duration (per GB-s, not per million)',
  dynamoDbWriteUnit: 'DynamoDB on-demand write request units',
  dynamoDbReadUnit: 'DynamoDB on-demand read request units',
};

/**
 * Data out to the internet, per GB: CloudFront's first 10 TB (US/EU), where relayed frames leave
 * AWS. Kept apart from PRICES: the per-operation model above bills no bytes.
 */
export const EGRESS_PER_GB = 0.085;

/**
 * A second reference for cold init: the AWS SDK clients every signal function makes (DynamoDB
 * with its document client, and the @connections management API), made as lambda/runtime.ts
 * makes them (HTTP handler and deadline middleware included), and nothing else. What the
 * functions take beyond it is the signal code itself.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { boundByDeadlines, httpHandler } from '../../lambda/clients.js';

const CALLS_IN_FLIGHT = 64;

const db = DynamoDBDocumentClient.from(
  boundByDeadlines(new DynamoDBClient({ requestHandler: httpHandler(CALLS_IN_FLIGHT) })),
  { marshallOptions: { removeUndefinedValues: true } },
);
const management = boundByDeadlines(
  new ApiGatewayManagementApiClient({
    endpoint: process.env.MANAGEMENT_ENDPOINT,
    requestHandler: httpHandler(CALLS_IN_FLIGHT),
  }),
);

export const handler = () =>
  Promise.resolve({ clients: [db.config.serviceId, management.config.serviceId] });

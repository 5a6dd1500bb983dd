/**
 * A second reference for cold init: the AWS SDK clients every signal function makes (DynamoDB
 * with its document client, and the @connections management API), made as lambda/runtime.ts
 * makes them, and nothing else. What the functions take beyond it is the signal code itself.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});
const management = new ApiGatewayManagementApiClient({
  endpoint: process.env.MANAGEMENT_ENDPOINT,
});

export const handler = () =>
  Promise.resolve({ clients: [db.config.serviceId, management.config.serviceId] });

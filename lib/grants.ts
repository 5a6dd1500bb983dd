/**
 * What each function's role may do: the DynamoDB actions and `@connections` methods its code
 * calls, and nothing more (docs/deploying.md, "Permissions", maps each to the code).
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { resourceFindingId } from './nag.js';
import type { SignalFunction } from './signal-function.js';

/**
 * The DynamoDB actions lambda/core/store/ calls, and nothing more: items and queries on the one
 * table, no Scan, no table administration (the document client needs no DescribeTable).
 */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

export type TableAction = (typeof TABLE_ACTIONS)[number];

/** A method of the management API: POST sends a frame, DELETE closes, GET asks after a socket. */
export type ConnectionsMethod = 'POST' | 'DELETE' | 'GET';

/** What one function's code calls, and so all its role may do. */
export interface FunctionGrants {
  readonly table: readonly TableAction[];
  readonly connections: readonly ConnectionsMethod[];
}

/** Every table action but those `excluded`, in TABLE_ACTIONS' order. */
const allBut = (...excluded: TableAction[]): readonly TableAction[] =>
  TABLE_ACTIONS.filter((action) => !excluded.includes(action));

/**
 * The table actions and `@connections` methods the code each handler reaches calls. Only
 * $connect asks whether a socket is open (GET, before pairing, and when a peer id is full);
 * $disconnect never creates an item (no PutItem), and deliver creates only the tombstone of a held
 * frame that never came; $connect and deliver read no peers in a batch (no BatchGetItem).
 */
export const FUNCTION_GRANTS = {
  connect: { table: allBut('dynamodb:BatchGetItem'), connections: ['POST', 'DELETE', 'GET'] },
  default: { table: TABLE_ACTIONS, connections: ['POST', 'DELETE'] },
  disconnect: { table: allBut('dynamodb:PutItem'), connections: ['POST', 'DELETE'] },
  deliver: { table: allBut('dynamodb:BatchGetItem'), connections: ['POST', 'DELETE'] },
} as const satisfies Record<string, FunctionGrants>;

/**
 * Grants `fn` the table actions and the `@connections` methods of `grants`, on this table and
 * this stage only. The stage's own grantManagementApiAccess allows every method; this allows
 * `<stage>/<method>/@connections/*` for the methods given.
 */
export function grantFunction(
  fn: SignalFunction,
  grants: FunctionGrants,
  table: TableV2,
  stage: WebSocketStage,
): void {
  table.grant(fn, ...grants.table);
  const api = Stack.of(stage).formatArn({
    service: 'execute-api',
    resource: stage.api.apiId,
  });
  const resourceArns = grants.connections.map(
    (method) => `${api}/${stage.stageName}/${method}/@connections/*`,
  );
  Grant.addToPrincipal({ grantee: fn, actions: ['execute-api:ManageConnections'], resourceArns });
  // Acknowledged here, where it is granted: the finding's ID names the granted ARN.
  for (const arn of resourceArns) {
    Validations.of(fn.role!).acknowledge({
      id: resourceFindingId('AwsSolutions-IAM5', stage, arn),
      reason:
        'execute-api:ManageConnections on this API and stage, for one method this function calls (POST sends a frame, DELETE closes a socket, GET asks whether one is open). The connection-id wildcard is needed because connection ids exist only at run time.',
    });
  }
}

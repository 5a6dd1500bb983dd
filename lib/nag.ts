// How cdk-nag names a finding about one resource, so that a construct acknowledges exactly it.
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The ID of cdk-nag's `rule` finding on `resource` (an ARN, tokens allowed) in the stack of
 * `scope`, e.g. `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:…]`.
 */
export function resourceFindingId(rule: string, scope: IConstruct, resource: string): string {
  return `${rule}[Resource::${flattenReference(Stack.of(scope).resolve(resource))}]`;
}

/**
 * A resolved CloudFormation value as cdk-nag spells it in a finding ID: `Fn::Join` joined,
 * `{ Ref: X }` as `<X>`, `{ 'Fn::GetAtt': [X, Y] }` as `<X.Y>`.
 */
function flattenReference(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if ('Fn::Join' in node) {
    const [delimiter, items] = node['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if ('Ref' in node) return `<${flattenReference(node.Ref)}>`;
  if ('Fn::GetAtt' in node) {
    const [resource, attribute] = node['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  return JSON.stringify(value);
}

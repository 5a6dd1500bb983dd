// What the constructs share to apply their defaults and refuse bad props up front.
import type { IConstruct } from 'constructs';

/** API Gateway stage names: letters, digits, `-` and `_`, at most 128 characters. */
export const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** Drops keys whose value is `undefined`, so they do not override defaults when spread. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Throws one error listing every problem with a construct's props, so that a caller fixes them
 * all in one go; does nothing when there are none.
 */
export function refuseInvalidProps(
  kind: string,
  construct: IConstruct,
  problems: readonly string[],
): void {
  if (problems.length > 0) {
    throw new Error(`Invalid ${kind} props (${construct.node.path}):\n- ${problems.join('\n- ')}`);
  }
}

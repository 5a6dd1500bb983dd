/**
 * Condition expressions built from named parts (as Powertools' idempotency layer builds its
 * own), so each write says in words what must hold.
 */
import { TABLE_SCHEMA } from '../schema.js';

const { partitionKey: PK } = TABLE_SCHEMA;

/** The item does not exist yet. */
export const ITEM_ABSENT = `attribute_not_exists(${PK})`;
/** The item exists (expired or not). */
export const ITEM_PRESENT = `attribute_exists(${PK})`;
/** The item has not expired (`#ttl` names the TTL attribute, `:now` is epoch seconds). */
export const LIVE = '#ttl > :now';
/** The item has expired but TTL has not removed it yet. */
export const EXPIRED = '#ttl <= :now';

type Part = string | false | undefined;

/** A compound part is parenthesised, so that it reads as written whatever joins it. */
const grouped = (part: string) => (/ (AND|OR) /.test(part) ? `(${part})` : part);

/** Every part holds (false and undefined parts are left out). */
export const and = (...parts: Part[]): string =>
  parts
    .filter((part): part is string => Boolean(part))
    .map(grouped)
    .join(' AND ');

/** At least one part holds. */
export const or = (...parts: Part[]): string =>
  parts
    .filter((part): part is string => Boolean(part))
    .map(grouped)
    .join(' OR ');

export const isConditionFailure = (error: unknown): boolean =>
  (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException';

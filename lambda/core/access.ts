/**
 * Optional checks at $connect, both off by default so the original client keeps working:
 * an Origin allowlist (browsers send Origin; other clients may not) and a shared token in the
 * query (`token=…`). Neither the token nor the presented value is ever logged.
 */
import { timingSafeEqual } from 'node:crypto';

export interface AccessPolicy {
  /** Origins allowed to connect (exact match, e.g. `https://app.example.com`). Empty: any. */
  readonly allowedOrigins?: readonly string[];
  /** A shared secret every handshake must carry as `token`. Unset: no token needed. */
  readonly token?: string;
}

export interface Refusal {
  statusCode: 401 | 403;
  reason: string;
}

type Headers = Readonly<Record<string, string | undefined>> | null | undefined;

const header = (headers: Headers, name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers ?? {}))
    if (key.toLowerCase() === name) return value;
  return undefined;
};

const sameSecret = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Why a handshake is refused, or undefined when the policy lets it through. */
export function checkAccess(
  policy: AccessPolicy | undefined,
  headers: Headers,
  query: Readonly<Record<string, string | undefined>> | null | undefined,
): Refusal | undefined {
  const origins = policy?.allowedOrigins ?? [];
  if (origins.length > 0) {
    const origin = header(headers, 'origin');
    if (origin === undefined || !origins.includes(origin))
      return { statusCode: 403, reason: 'origin not allowed' };
  }
  if (policy?.token !== undefined) {
    const given = query?.token;
    if (given === undefined || !sameSecret(given, policy.token))
      return { statusCode: 401, reason: 'missing or wrong token' };
  }
  return undefined;
}

/**
 * Optional checks at $connect, all off by default so the original client keeps working: the
 * edge's secret header (CloudFront adds it; a handshake that skipped CloudFront lacks it), an
 * Origin allowlist (browsers send Origin; other clients may not) and a shared token in the query
 * (`token=…`). No secret, and no value presented for one, is ever logged.
 */
import { timingSafeEqual } from 'node:crypto';

/**
 * The custom origin header CloudFront adds to every request it forwards to the stage, holding the
 * edge's secret (docs/deploying.md, "The edge proves itself"). CloudFront overwrites a viewer's
 * header of the same name, so only the edge can set it. Not one of the names CloudFront refuses to
 * add (`X-Amz-*`, `X-Edge-*`, hop-by-hop and caching headers).
 */
export const EDGE_SECRET_HEADER = 'X-Origin-Verify';

export interface AccessPolicy {
  /** The secret the edge sends as {@link EDGE_SECRET_HEADER}. Unset: direct handshakes are welcome. */
  readonly edgeSecret?: string;
  /** Origins allowed to connect (exact match, e.g. `https://app.example.com`). Empty: any. */
  readonly allowedOrigins?: readonly string[];
  /** A shared secret every handshake must carry as `token`. Unset: no token needed. */
  readonly token?: string;
}

const EDGE_SECRET_HEADER_LOWER = EDGE_SECRET_HEADER.toLowerCase();

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
  // First: a handshake that skipped the edge learns nothing about the other checks.
  if (policy?.edgeSecret !== undefined) {
    const given = header(headers, EDGE_SECRET_HEADER_LOWER);
    if (given === undefined || !sameSecret(given, policy.edgeSecret))
      return { statusCode: 403, reason: 'not through the edge' };
  }
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

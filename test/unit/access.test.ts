import { describe, expect, it } from 'vitest';
import { checkAccess, EDGE_SECRET_HEADER } from '../../lambda/core/access.js';

describe('checkAccess', () => {
  it('lets every handshake through when no policy is set', () => {
    expect(checkAccess(undefined, {}, {})).toBeUndefined();
    expect(checkAccess({}, null, null)).toBeUndefined();
    expect(checkAccess({ allowedOrigins: [] }, undefined, undefined)).toBeUndefined();
  });

  it('refuses an origin outside the allowlist with 403, matching the header name in any case', () => {
    const policy = { allowedOrigins: ['https://app.example.com'] };
    expect(checkAccess(policy, { Origin: 'https://app.example.com' }, {})).toBeUndefined();
    expect(checkAccess(policy, { origin: 'https://app.example.com' }, {})).toBeUndefined();
    expect(checkAccess(policy, { origin: 'https://evil.example.com' }, {})).toEqual({
      statusCode: 403,
      reason: 'origin not allowed',
    });
    expect(checkAccess(policy, {}, {})).toEqual({ statusCode: 403, reason: 'origin not allowed' });
  });

  it('refuses a missing or wrong token with 401, and never echoes either value', () => {
    const policy = { token: 's3cret' };
    expect(checkAccess(policy, {}, { token: 's3cret' })).toBeUndefined();
    for (const query of [{}, { token: 's3cre' }, { token: 's3cret!' }, { token: '' }, null]) {
      const refusal = checkAccess(policy, {}, query);
      expect(refusal).toEqual({ statusCode: 401, reason: 'missing or wrong token' });
      expect(JSON.stringify(refusal)).not.toContain('s3cre');
    }
  });

  it('checks the origin before the token', () => {
    const policy = { allowedOrigins: ['https://a.example'], token: 't' };
    expect(checkAccess(policy, { origin: 'https://b.example' }, { token: 'x' })?.statusCode).toBe(
      403,
    );
    expect(checkAccess(policy, { origin: 'https://a.example' }, { token: 'x' })?.statusCode).toBe(
      401,
    );
    expect(checkAccess(policy, { origin: 'https://a.example' }, { token: 't' })).toBeUndefined();
  });

  it('refuses a handshake without the edge secret header with 403, matching the name in any case', () => {
    const policy = { edgeSecret: 'edge-secret' };
    expect(checkAccess(policy, { [EDGE_SECRET_HEADER]: 'edge-secret' }, {})).toBeUndefined();
    expect(checkAccess(policy, { 'x-origin-verify': 'edge-secret' }, {})).toBeUndefined();
    for (const headers of [
      {},
      null,
      { 'x-origin-verify': 'edge-secre' },
      { 'x-origin-verify': '' },
    ]) {
      const refusal = checkAccess(policy, headers, {});
      expect(refusal).toEqual({ statusCode: 403, reason: 'not through the edge' });
      expect(JSON.stringify(refusal)).not.toContain('edge-secre');
    }
  });

  it('does not take the edge secret from the query', () => {
    const policy = { edgeSecret: 'edge-secret' };
    expect(checkAccess(policy, {}, { 'X-Origin-Verify': 'edge-secret' })?.statusCode).toBe(403);
  });

  it('checks the edge secret before the origin and the token', () => {
    const policy = { edgeSecret: 'e', allowedOrigins: ['https://a.example'], token: 't' };
    const origin = { origin: 'https://a.example' };
    expect(checkAccess(policy, origin, { token: 't' })?.reason).toBe('not through the edge');
    expect(
      checkAccess(policy, { ...origin, 'x-origin-verify': 'e' }, { token: 't' }),
    ).toBeUndefined();
    expect(checkAccess(policy, { 'x-origin-verify': 'e' }, { token: 't' })?.statusCode).toBe(403);
    expect(checkAccess(policy, { ...origin, 'x-origin-verify': 'e' }, {})?.statusCode).toBe(401);
  });
});

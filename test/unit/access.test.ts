import { describe, expect, it } from 'vitest';
import { checkAccess } from '../../lambda/core/access.js';

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
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lambda/core/limits.js';
import {
  applyKeyChange,
  checkName,
  errorReply,
  introduction,
  parseConnectRequest,
  parseKeyChange,
  sharedKeys,
} from '../../lambda/core/protocol.js';

const limits = DEFAULT_LIMITS;

describe('checkName', () => {
  it('accepts cuids, short development ids and document keys', () => {
    for (const name of ['cjld2cjxh0000qzrmn831i7rn', 'abcd', 'happy-raccoon', '🐟', 'a b/c?d'])
      expect(checkName('key', name, limits)).toBeUndefined();
  });

  it('refuses what is not a non-empty string', () => {
    expect(checkName('key', 42, limits)).toBe('key must be a string');
    expect(checkName('key', null, limits)).toBe('key must be a string');
    expect(checkName('key', '', limits)).toBe('key must not be empty');
  });

  it('counts length in UTF-16 code units, up to the limit', () => {
    expect(checkName('key', 'x'.repeat(256), limits)).toBeUndefined();
    expect(checkName('key', 'x'.repeat(257), limits)).toBe('key is longer than 256 characters');
    // One emoji is two code units.
    expect(checkName('key', '🐟'.repeat(128), limits)).toBeUndefined();
    expect(checkName('key', '🐟'.repeat(128) + 'x', limits)).toMatch(/longer than 256/);
    expect(checkName('key', 'xxxx', { ...limits, maxIdLength: 3 })).toMatch(/longer than 3/);
  });

  it('refuses C0 and C1 control characters and DEL', () => {
    for (const bad of ['a\u0000b', 'tab\there', 'new\nline', 'del\u007f', 'c1\u0085', '\u009f'])
      expect(checkName('key', bad, limits)).toBe('key must not contain control characters');
  });
});

describe('parseConnectRequest', () => {
  it('reads an introduction socket', () => {
    expect(parseConnectRequest({ type: 'introduction', localId: 'abcd' }, limits)).toEqual({
      ok: true,
      value: { type: 'introduction', localId: 'abcd' },
    });
  });

  it('reads a relay socket with its remote id and key', () => {
    expect(
      parseConnectRequest(
        { type: 'connection', localId: 'a', remoteId: 'b', key: 'happy-raccoon' },
        limits,
      ),
    ).toEqual({
      ok: true,
      value: { type: 'connection', localId: 'a', remoteId: 'b', key: 'happy-raccoon' },
    });
  });

  it('reads the SignalSocket transport marker of a relay socket; absent means plain', () => {
    const relay = { type: 'connection', localId: 'a', remoteId: 'b', key: 'k' };
    expect(parseConnectRequest({ ...relay, transport: 'signalsocket-1' }, limits)).toEqual({
      ok: true,
      value: { ...relay, transport: 'signalsocket-1' },
    });
    expect(parseConnectRequest(relay, limits)).toEqual({ ok: true, value: relay });
  });

  it.each(['signalsocket-2', 'SignalSocket-1', ''])(
    'refuses an unknown transport marker %j, saying which one it knows',
    (transport) => {
      for (const type of ['connection', 'introduction'])
        expect(
          parseConnectRequest({ type, localId: 'a', remoteId: 'b', key: 'k', transport }, limits),
        ).toEqual({
          ok: false,
          error: 'transport must be signalsocket-1, or absent for a plain socket',
        });
    },
  );

  it('ignores parameters it does not know', () => {
    const parsed = parseConnectRequest({ type: 'introduction', localId: 'a', token: 's' }, limits);
    expect(parsed).toEqual({ ok: true, value: { type: 'introduction', localId: 'a' } });
  });

  it.each([
    [null, 'type is missing (introduction or connection)'],
    [{}, 'type is missing (introduction or connection)'],
    [{ type: 'relay', localId: 'a' }, 'type must be introduction or connection'],
    [{ type: 'introduction' }, 'localId must be a string'],
    [{ type: 'introduction', localId: '' }, 'localId must not be empty'],
    [{ type: 'connection', localId: 'a', key: 'k' }, 'remoteId must be a string'],
    [{ type: 'connection', localId: 'a', remoteId: 'b' }, 'key must be a string'],
    [{ type: 'connection', remoteId: 'b', key: 'k' }, 'localId must be a string'],
    [
      { type: 'connection', localId: 'a', remoteId: 'a', key: 'k' },
      'localId and remoteId must differ',
    ],
    [
      { type: 'connection', localId: 'a', remoteId: 'b', key: 'k\n' },
      'key must not contain control characters',
    ],
  ])('refuses %j with a reason', (query, error) => {
    expect(parseConnectRequest(query, limits)).toEqual({ ok: false, error });
  });
});

describe('parseKeyChange', () => {
  it('reads join and leave lists', () => {
    expect(parseKeyChange('{"type":"Join","join":["a","b"],"leave":["c"]}', limits)).toEqual({
      ok: true,
      value: { join: ['a', 'b'], leave: ['c'] },
    });
  });

  it('applies join and leave whatever type says, and treats missing lists as empty', () => {
    expect(parseKeyChange('{"type":"Leave","join":["a"]}', limits)).toEqual({
      ok: true,
      value: { join: ['a'], leave: [] },
    });
    expect(parseKeyChange('{"join":[]}', limits)).toEqual({
      ok: true,
      value: { join: [], leave: [] },
    });
    expect(parseKeyChange('{"type":"Join","join":null}', limits)).toEqual({
      ok: true,
      value: { join: [], leave: [] },
    });
  });

  it.each([
    [undefined, 'message is not JSON'],
    ['', 'message is not JSON'],
    ['{join:', 'message is not JSON'],
    ['[1]', 'message must be a JSON object'],
    ['"Join"', 'message must be a JSON object'],
    ['null', 'message must be a JSON object'],
    ['{"join":"a"}', 'join must be an array of keys'],
    ['{"leave":{"a":1}}', 'leave must be an array of keys'],
    ['{"join":["a",1]}', 'every key in join must be a string'],
    ['{"join":[""]}', 'every key in join must not be empty'],
    ['{"leave":["\\u0000"]}', 'every key in leave must not contain control characters'],
  ])('answers %j with an error and never throws', (body, error) => {
    expect(parseKeyChange(body, limits)).toEqual({ ok: false, error });
  });

  it('refuses a list longer than the per-message limit', () => {
    const keys = Array.from({ length: 4 }, (_, i) => `k${i}`);
    const small = { ...limits, maxKeysPerMessage: 3 };
    expect(parseKeyChange(JSON.stringify({ join: keys }), small)).toEqual({
      ok: false,
      error: 'join has more than 3 keys',
    });
    expect(parseKeyChange(JSON.stringify({ join: keys.slice(0, 3) }), small).ok).toBe(true);
  });
});

describe('applyKeyChange', () => {
  it('adds joined keys in insertion order without duplicates', () => {
    expect(applyKeyChange(['a', 'b'], { join: ['c', 'a', 'c'], leave: [] })).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('removes left keys, including keys joined in the same message', () => {
    expect(applyKeyChange(['a', 'b'], { join: ['c'], leave: ['a', 'c', 'zzz'] })).toEqual(['b']);
  });

  it('leaves the given set untouched', () => {
    const keys = ['a'];
    applyKeyChange(keys, { join: ['b'], leave: ['a'] });
    expect(keys).toEqual(['a']);
  });
});

describe('sharedKeys', () => {
  it('is the full intersection, ordered as in the first set', () => {
    expect(sharedKeys(['d', 'a', 'c', 'b'], ['b', 'c', 'x', 'd'])).toEqual(['d', 'c', 'b']);
    expect(sharedKeys(['a'], ['b'])).toEqual([]);
  });
});

describe('server messages', () => {
  it('have the shape the original client reads', () => {
    expect(JSON.stringify(introduction('qrst7890', ['happy-raccoon']))).toBe(
      '{"type":"Introduction","id":"qrst7890","keys":["happy-raccoon"]}',
    );
    expect(JSON.stringify(errorReply('message is not JSON'))).toBe(
      '{"type":"Error","error":"message is not JSON"}',
    );
  });
});

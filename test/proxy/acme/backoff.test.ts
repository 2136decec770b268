// The stored ACME backoff (src/proxy/acme/backoff.ts): the key, the value both ways, malformed
// values refused with a reason, and which record a new holder keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffPrefix, decodeBackoff, encodeBackoff, mergeBackoff } from '../../../dist/proxy/acme/backoff.js';

const at = Date.parse('2026-12-05T10:00:00.000Z');

test('the prefix sits beside the tokens, outside them', () => {
  assert.equal(backoffPrefix('/beacon/acme'), '/beacon/acme-backoff/');
  assert.equal(backoffPrefix('/beacon/acme/'), '/beacon/acme-backoff/');
});

test('a record round-trips, with and without the error', () => {
  for (const record of [{ failures: 3, nextTry: at, lastError: 'rateLimited' }, { failures: 1, nextTry: at }]) {
    const decoded = decodeBackoff(encodeBackoff(record));
    assert.deepEqual(decoded, { ok: true, record });
  }
  assert.equal(encodeBackoff({ failures: 2, nextTry: at }), '{"failures":2,"nextTry":"2026-12-05T10:00:00.000Z"}');
});

test('malformed values are refused with the field', () => {
  const cases: [string, RegExp][] = [
    ['nope', /not JSON/],
    ['[1]', /not a JSON object/],
    ['{"failures":0,"nextTry":"2026-12-05T10:00:00Z"}', /failures/],
    ['{"failures":1.5,"nextTry":"2026-12-05T10:00:00Z"}', /failures/],
    ['{"failures":1,"nextTry":"soon"}', /nextTry/],
    ['{"failures":1}', /nextTry/],
    ['{"failures":1,"nextTry":"2026-12-05T10:00:00Z","lastError":7}', /lastError/],
  ];
  for (const [value, reason] of cases) {
    const d = decodeBackoff(value);
    assert.equal(d.ok, false, value);
    if (!d.ok) assert.match(d.reason, reason, value);
  }
});

test('merge: the longer wait wins; a certificate the holder stored itself is kept', () => {
  const stored = { failures: 2, nextTry: at + 120_000, lastError: 'x' };
  assert.deepEqual(mergeBackoff(undefined, stored), stored);
  assert.deepEqual(mergeBackoff({ failures: 0, nextTry: 0, issuedNotAfter: at + 5 }, stored), { ...stored, issuedNotAfter: at + 5 });
  const own = { failures: 4, nextTry: at + 600_000, lastError: 'y' };
  assert.equal(mergeBackoff(own, stored), own);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldRetry } from '../../dist/proxy/retry.js';

const base = { method: 'GET', hasBody: false, bodyConsumed: false, requestSent: false, responseStarted: false, tries: 1, maxTries: 3 } as const;

const cases: [string, Parameters<typeof shouldRetry>[0], boolean][] = [
  ['refused GET', { ...base, kind: 'connect' }, true],
  ['refused POST with untouched body', { ...base, kind: 'connect', method: 'POST', hasBody: true }, true],
  ['refused POST with consumed body', { ...base, kind: 'connect', method: 'POST', hasBody: true, bodyConsumed: true }, false],
  ['reset GET after sending', { ...base, kind: 'reset', requestSent: true }, true],
  ['reset bodiless POST after sending', { ...base, kind: 'reset', method: 'POST', requestSent: true }, false],
  ['reset POST before sending', { ...base, kind: 'reset', method: 'POST' }, true],
  ['reset PUT with body after sending', { ...base, kind: 'reset', method: 'PUT', hasBody: true, bodyConsumed: true, requestSent: true }, false],
  ['timeout GET', { ...base, kind: 'timeout', requestSent: true }, false],
  ['other GET', { ...base, kind: 'other' }, false],
  ['response already started', { ...base, kind: 'reset', responseStarted: true }, false],
  ['out of tries', { ...base, kind: 'connect', tries: 3 }, false],
  ['max-tries 1', { ...base, kind: 'connect', maxTries: 1 }, false],
];

test('retry decisions', () => {
  for (const [name, outcome, want] of cases) assert.equal(shouldRetry(outcome), want, name);
});

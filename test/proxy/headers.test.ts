import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientResponseHeaders, requestFacts, upstreamRequestHeaders } from '../../dist/proxy/headers.js';

test('request headers: hop-by-hop removed, Host kept, X-Forwarded-* set, XFF appended', () => {
  const raw = [
    'Host', 'app.example.com',
    'Connection', 'keep-alive, X-Secret',
    'X-Secret', 'drop me',
    'Keep-Alive', 'timeout=5',
    'TE', 'trailers',
    'Transfer-Encoding', 'chunked',
    'Proxy-Authorization', 'Basic x',
    'Expect', '100-continue',
    'X-Forwarded-For', '10.0.0.1',
    'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'spoofed',
    'Accept', 'a',
    'Accept', 'b',
  ];
  const out = upstreamRequestHeaders(raw, 'keep-alive, X-Secret', { clientAddress: '127.0.0.1', proto: 'http' });
  const pairs: [string, string][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  assert.deepEqual(pairs, [
    ['Host', 'app.example.com'],
    ['Accept', 'a'],
    ['Accept', 'b'],
    ['x-forwarded-for', '10.0.0.1, 127.0.0.1'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'app.example.com'],
  ]);
});

test('request headers without Host or prior XFF', () => {
  const out = upstreamRequestHeaders(['Accept', '*/*'], undefined, { clientAddress: '::1', proto: 'http' });
  assert.deepEqual(out, ['Accept', '*/*', 'x-forwarded-for', '::1', 'x-forwarded-proto', 'http']);
});

test('response headers: hop-by-hop and Connection-listed removed, duplicates kept', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Internal', 'X-Internal', '1', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
  assert.deepEqual(clientResponseHeaders(raw), ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
});

test('requestFacts: Host count, joined Connection, Expect, framing, in one pass', () => {
  const facts = requestFacts(['HOST', 'a.example', 'Connection', 'keep-alive', 'Host', 'b.example', 'connection', 'X-Secret', 'Expect', ' 100-Continue ', 'Content-Length', '0', 'X-Long-Header-Nm', 'v']);
  assert.deepEqual(facts, { host: 'a.example', hosts: 2, connection: 'keep-alive, X-Secret', expectContinue: true, chunked: false, hasBody: false });
  assert.deepEqual(requestFacts(['Transfer-Encoding', 'chunked']), { host: '', hosts: 0, connection: undefined, expectContinue: false, chunked: true, hasBody: true });
  assert.equal(requestFacts(['Content-Length', '12', 'Expect', 'something-else']).hasBody, true);
  assert.equal(requestFacts(['Content-Length', '12', 'Expect', 'something-else']).expectContinue, false);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientResponseLines, forwardedLines, requestFacts, requestForward, requestForwardList, setForwardedOnObject } from '../../dist/proxy/headers.js';

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
  const { lines, forwardedFor } = requestForward(raw, 'keep-alive, X-Secret');
  assert.equal(lines, 'Host: app.example.com\r\nAccept: a\r\nAccept: b\r\n');
  assert.equal(forwardedFor, '10.0.0.1');
  assert.equal(
    forwardedLines(forwardedFor, 'app.example.com', { clientAddress: '127.0.0.1', proto: 'http' }),
    'x-forwarded-for: 10.0.0.1, 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: app.example.com\r\n',
  );
});

test('request headers without Host or prior XFF; several XFF lines are one chain', () => {
  assert.deepEqual(requestForward(['Accept', '*/*'], undefined), { lines: 'Accept: */*\r\n', forwardedFor: '' });
  assert.equal(forwardedLines('', undefined, { clientAddress: '::1', proto: 'http' }), 'x-forwarded-for: ::1\r\nx-forwarded-proto: http\r\n');
  assert.equal(requestForward(['X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'], undefined).forwardedFor, '1.1.1.1, 2.2.2.2');
});

test('response headers: hop-by-hop and Connection-listed removed, duplicates kept', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Internal', 'X-Internal', '1', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
  assert.equal(clientResponseLines(raw), 'Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n');
});

test('requestFacts: Host count, joined Connection, Expect, framing, in one pass', () => {
  const facts = requestFacts(['HOST', 'a.example', 'Connection', 'keep-alive', 'Host', 'b.example', 'connection', 'X-Secret', 'Expect', ' 100-Continue ', 'Content-Length', '0', 'X-Long-Header-Nm', 'v']);
  assert.deepEqual(facts, { host: 'a.example', hosts: 2, connection: 'keep-alive, X-Secret', expectContinue: true, chunked: false, hasBody: false });
  assert.deepEqual(requestFacts(['Transfer-Encoding', 'chunked']), { host: '', hosts: 0, connection: undefined, expectContinue: false, chunked: true, hasBody: true });
  assert.equal(requestFacts(['Content-Length', '12', 'Expect', 'something-else']).hasBody, true);
  assert.equal(requestFacts(['Content-Length', '12', 'Expect', 'something-else']).expectContinue, false);
  assert.equal(requestFacts(['Content-Length', '000']).hasBody, false);
});

test('a Connection header cannot list away framing or Host, in either direction; underscore forwarded names go', () => {
  const raw = ['Host', 'h', 'Content-Length', '5', 'Connection', 'content-length, HOST, transfer-encoding, x-a', 'X-A', '1', 'X_Forwarded_For', '6.6.6.6', 'x_forwarded_proto', 'https', 'X_Forwarded_Host', 'e'];
  assert.deepEqual(requestForward(raw, 'content-length, HOST, transfer-encoding, x-a'), { lines: 'Host: h\r\nContent-Length: 5\r\n', forwardedFor: '' });
  assert.equal(clientResponseLines(['Connection', 'content-length', 'Content-Length', '5', 'X_Forwarded_For', 'kept']), 'Content-Length: 5\r\nX_Forwarded_For: kept\r\n');
});

test('framing and hop-by-hop names in underscore spelling are dropped, in both directions and both list forms', () => {
  const raw = ['Host', 'h', 'Transfer_Encoding', 'chunked', 'content_length', '5', 'Keep_Alive', '1', 'Proxy_Connection', 'c', 'proxy_authorization', 'p', 'Proxy_Authenticate', 'a', 'X_Kept', 'k'];
  assert.deepEqual(requestForward(raw, undefined), { lines: 'Host: h\r\nX_Kept: k\r\n', forwardedFor: '' });
  assert.deepEqual(requestForwardList(raw, undefined, 'h', { clientAddress: '127.0.0.1', proto: 'http' }).slice(0, 4), ['Host', 'h', 'X_Kept', 'k']);
  assert.equal(clientResponseLines(raw), 'Host: h\r\nX_Kept: k\r\n');
});

test('every Connection header of a response counts, not only the last', () => {
  const raw = ['Connection', 'x-one', 'X-One', '1', 'X-Two', '2', 'Connection', 'x-two', 'Keep', 'k'];
  assert.equal(clientResponseLines(raw), 'Keep: k\r\n');
});

test('WebSocket upgrade headers: the proxy own forwarded headers replaced in either spelling, XFF appended', () => {
  const headers: Record<string, string | string[] | undefined> = {
    host: 'chat.example',
    'x-forwarded-for': '10.0.0.1',
    'x_forwarded_for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x_forwarded_host': 'evil',
    'x-forwarded-host': 'spoofed',
    upgrade: 'websocket',
  };
  setForwardedOnObject(headers, { clientAddress: '127.0.0.1', proto: 'http' });
  assert.deepEqual(headers, {
    host: 'chat.example',
    'x-forwarded-for': '10.0.0.1, 127.0.0.1',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'chat.example',
    upgrade: 'websocket',
  });
  const hostless: Record<string, string | string[] | undefined> = { 'x-forwarded-host': 'spoofed' };
  setForwardedOnObject(hostless, { clientAddress: '::1', proto: 'http' });
  assert.deepEqual(hostless, { 'x-forwarded-for': '::1', 'x-forwarded-proto': 'http' });
});

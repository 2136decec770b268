// The fast path against llhttp, input by input: whatever the fast path accepts, llhttp must
// accept too and read the same way. Seeded mutations of ordinary messages probe the edges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestHead, parseResponseHead, type FastHead } from '../../dist/proxy/fast/fastpath.js';
import { clientResponseLines, requestFacts, requestForward } from '../../dist/proxy/headers.js';
import { HeadAction, Http1Parser, type MessageHead } from '../../dist/proxy/fast/http1.js';
import { prng } from '../harness/prng.ts';

interface LlhttpReading {
  head: MessageHead | undefined;
  error: string | undefined;
  body: number;
  ended: boolean;
}

function llhttp(kind: 'request' | 'response', input: Buffer): LlhttpReading {
  const out: LlhttpReading = { head: undefined, error: undefined, body: 0, ended: false };
  const parser = new Http1Parser(kind, {
    onHead: (head) => {
      if (out.head === undefined) out.head = head;
      return HeadAction.Continue;
    },
    onBody: (chunk) => {
      if (!out.ended) out.body += chunk.length;
    },
    onMessageEnd: () => {
      out.ended = true;
    },
  }, 16_384);
  const r = parser.execute(input);
  if (r.kind === 'error') out.error = r.error.code;
  parser.close();
  return out;
}

/** Header lines as [name, value] pairs, the value without the whitespace llhttp trims. */
function pairs(lines: string, shown: string): [string, string][] {
  assert.ok(lines === '' || lines.endsWith('\r\n'), `lines end with CRLF for ${shown}`);
  return lines
    .split('\r\n')
    .slice(0, -1)
    .map((line) => {
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `a header line in ${JSON.stringify(lines)} for ${shown}`);
      return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+/, '')];
    });
}

function agree(kind: 'request' | 'response', input: Buffer, fast: FastHead & { method?: string; url?: string; status?: number; host?: string; hosts?: number; forwardedFor?: string }): void {
  const slow = llhttp(kind, input);
  const shown = JSON.stringify(input.toString('latin1'));
  assert.ok(slow.head !== undefined, `llhttp found no head in ${shown} (error ${slow.error})`);
  const h = slow.head;
  // what goes on is what the slow path (llhttp's reading through headers.ts) would pass on
  if (kind === 'request') {
    const facts = requestFacts(h.headers);
    const forward = requestForward(h.headers, facts.connection);
    assert.deepEqual(pairs(fast.forward, shown), pairs(forward.lines, shown), `header lines passed on for ${shown}`);
    assert.equal(fast.forwardedFor, forward.forwardedFor, `X-Forwarded-For of ${shown}`);
    assert.equal(fast.host, facts.host, `Host of ${shown}`);
    assert.equal(fast.hosts, facts.hosts, `Host count of ${shown}`);
  } else {
    assert.deepEqual(pairs(fast.forward, shown), pairs(clientResponseLines(h.headers), shown), `header lines passed on for ${shown}`);
  }
  assert.equal(fast.minor, h.versionMinor, `version of ${shown}`);
  assert.equal(fast.keepAlive, h.keepAlive, `keep-alive of ${shown}`);
  if (kind === 'request') {
    assert.equal(fast.method, h.method, `method of ${shown}`);
    assert.equal(fast.url, h.url, `url of ${shown}`);
    assert.equal(h.upgrade, false, `upgrade of ${shown}`);
  } else {
    assert.equal(fast.status, h.status, `status of ${shown}`);
  }
  // the body llhttp saw within this input is what the fast path's Content-Length frames
  const available = input.length - fast.end;
  const framed = Math.max(0, fast.contentLength);
  assert.equal(slow.body, Math.min(framed, available), `body length of ${shown}`);
  if (available >= framed) assert.equal(slow.ended, true, `message end of ${shown}`);
}

const REQUESTS = [
  'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n',
  'GET /x?y=1&z=%20 HTTP/1.1\r\nHost: a.example:8080\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n',
  'POST /hash HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'PUT /p HTTP/1.0\r\nHost: b\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc',
  'DELETE /d HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n',
  'HEAD / HTTP/1.0\r\n\r\n',
  'OPTIONS /o HTTP/1.1\r\nHost: c\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nCookie: a=b; c=d\r\n\r\n',
  'GET /h HTTP/1.1\r\nConnection: keep-alive\r\nHost: d\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-Proto: https\r\nx-forwarded-for: 1.1.1.1\r\nX-Forwarded-Host: spoofed\r\nAccept: */*\r\n\r\n',
];

const RESPONSES = [
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 22\r\nDate: Sun, 22 Nov 2026 23:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello from upstream a\n',
  'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok',
  'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\nRetry-After: 1\r\n\r\nbusy',
  'HTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 401 Unauthorized\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nTrailer: x\r\nX-Forwarded-For: kept\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx',
];

/** Bytes that sit on the edges of the grammar. */
const NASTY = [' ', '\t', '\r', '\n', '\r\n', '\0', '\x7f', '\x80', '\xff', ':', ';', ',', '"', '\\', '{', '|', '^', '`', '<', '#', '%', '?', '/', 'a', 'Z', '0', '9', '-', ' \r\n', '\r\n ', '\r\n\t', 'Content-Length: 7\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: +5\r\n', 'Content-Length: 1,1\r\n', 'Connection: upgrade\r\nUpgrade: websocket\r\n', 'Connection: close, keep-alive\r\n', 'Expect: 100-continue\r\n', 'Proxy-Connection: close\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n', 'HTTP/1.1', 'HTTP/2.0', 'HTTP/1.10', 'Keep-Alive: 5\r\n', 'TE: x\r\n', 'Host: other\r\n', 'X-Forwarded-For: 9.9.9.9\r\n', 'x-forwarded-proto: ftp\r\n', 'Trailer: t\r\n', 'Proxy-Authorization: p\r\n', 'X_Forwarded_For: 6.6.6.6\r\n', 'x_forwarded_host: e\r\n', 'X_FORWARDED_PROTO: p\r\n', 'Transfer_Encoding: chunked\r\n', 'content_length: 5\r\n', 'Keep_Alive: 1\r\n', 'proxy_connection: close\r\n', 'Proxy_Authenticate: a\r\n', 'PROXY_AUTHORIZATION: b\r\n'];

function mutate(base: string, random: () => number): Buffer {
  let s = base;
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (s.length + 1));
    const piece = NASTY[Math.floor(random() * NASTY.length)]!;
    const op = random();
    if (op < 0.45) s = s.slice(0, at) + piece + s.slice(at);
    else if (op < 0.8) s = s.slice(0, at) + piece + s.slice(at + piece.length);
    else s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 3));
  }
  return Buffer.from(s, 'latin1');
}

test('the fast path reads ordinary requests and responses as llhttp does', () => {
  for (const r of REQUESTS) {
    const input = Buffer.from(r, 'latin1');
    const fast = parseRequestHead(input, 0, 16_384);
    assert.ok(fast, `fast path declined ${JSON.stringify(r)}`);
    agree('request', input, fast);
  }
  for (const r of RESPONSES) {
    const input = Buffer.from(r, 'latin1');
    const fast = parseResponseHead(input, 0, 16_384);
    assert.ok(fast, `fast path declined ${JSON.stringify(r)}`);
    agree('response', input, fast);
  }
});

test('the fast path declines what it does not own: chunked, upgrades, Expect, bodiless statuses, odd bytes', () => {
  const declined = [
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a \r\n\r\n',
    'GET / HTTP/1.1\nHost: a\r\n\r\n',
    'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\n',
  ];
  for (const r of declined) assert.equal(parseRequestHead(Buffer.from(r, 'latin1'), 0, 16_384), undefined, JSON.stringify(r));
  for (const r of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\nclose-delimited', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']) {
    assert.equal(parseResponseHead(Buffer.from(r, 'latin1'), 0, 16_384), undefined, JSON.stringify(r));
  }
  // over the size limit: llhttp decides (431)
  const big = Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(2000)}\r\n\r\n`);
  assert.equal(parseRequestHead(big, 0, 1024), undefined);
  // the limit counts the whole head, its closing CRLF CRLF included, from where it starts
  const exact = Buffer.from('xxGET / HTTP/1.1\r\nHost: a\r\n\r\nrest', 'latin1');
  const size = exact.length - 2 - 'rest'.length;
  assert.equal(parseRequestHead(exact, 2, size)?.end, 2 + size);
  assert.equal(parseRequestHead(exact, 2, size - 1), undefined);
});

test('20,000 seeded mutations: everything the fast path accepts, llhttp accepts and reads the same', () => {
  const random = prng(0xbeac0);
  let accepted = 0;
  for (let n = 0; n < 20_000; n++) {
    const request = n % 2 === 0;
    const bases = request ? REQUESTS : RESPONSES;
    const input = mutate(bases[Math.floor(random() * bases.length)]!, random);
    const fast = request ? parseRequestHead(input, 0, 16_384) : parseResponseHead(input, 0, 16_384);
    if (fast === undefined) continue;
    accepted++;
    agree(request ? 'request' : 'response', input, fast);
  }
  // the mutations must leave plenty of accepted inputs, or this test checks nothing
  assert.ok(accepted > 2000, `only ${accepted} mutated inputs were accepted`);
});

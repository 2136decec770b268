// A forwarded query's reply must come from the nameserver it was sent to: same port AND address.
// Another host on the loopback net (127.0.0.2) sends a forged reply from the nameserver's port
// with the right id and question; the exchange must wait for the real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { exchangeUdp, sameAddress } from '../../dist/dns/forward.js';
import { CLASS, decodeMessage, encodeQuery, encodeResponse, parseQuery, RCODE, TYPE } from '../../dist/dns/wire.js';
import { freePort } from '../harness/ports.ts';

test('sameAddress: IPv4 as is, IPv6 in canonical form', () => {
  const cases: [string, string, boolean][] = [
    ['127.0.0.1', '127.0.0.1', true],
    ['127.0.0.2', '127.0.0.1', false],
    ['::1', '0:0:0:0:0:0:0:1', true],
    ['::1', '::2', false],
    ['::ffff:127.0.0.1', '127.0.0.1', false],
  ];
  for (const [a, b, want] of cases) assert.equal(sameAddress(a, b), want, `${a} ${b}`);
});

function bind(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, host, () => resolve(s));
  });
}

function answer(query: Buffer, address: string): Buffer {
  const p = parseQuery(query);
  assert.ok(p.ok);
  return encodeResponse({
    id: p.query.id,
    rcode: RCODE.NOERROR,
    rd: true,
    ra: true,
    question: query.subarray(12, p.query.questionEnd),
    answer: [{ name: p.query.name, type: TYPE.A, class: CLASS.IN, ttl: 300, data: { kind: 'a', address } }],
    maxSize: 512,
  });
}

test('a reply from another address on the nameserver port is ignored', { timeout: 30_000 }, async () => {
  const port = await freePort(true);
  const nameserver = await bind(port, '127.0.0.1');
  const spoofer = await bind(port, '127.0.0.2');
  try {
    // the nameserver tells the spoofer where the query came from (an off-path attacker would guess
    // the port and id), then answers itself a little later
    nameserver.on('message', (query, rinfo) => {
      spoofer.send(answer(query, '6.6.6.6'), rinfo.port, rinfo.address);
      setTimeout(() => nameserver.send(answer(query, '192.0.2.1'), rinfo.port, rinfo.address), 200);
    });
    const reply = await exchangeUdp(encodeQuery(4242, 'www.example.org.', TYPE.A), { host: '127.0.0.1', port }, 5000);
    const a = decodeMessage(reply).answer[0]!;
    assert.deepEqual(a.data, { kind: 'a', address: '192.0.2.1' });
  } finally {
    nameserver.close();
    spoofer.close();
  }
});

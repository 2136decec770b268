// Hostile DNS input over the network: thousands of random and mutated packets over UDP and TCP
// against a real beacon dns (real etcd), then real dig still gets correct answers, the process and
// its UDP worker are alive, nothing was logged as an error, no TCP connection is left behind, and
// RSS stayed bounded. Deterministic: BEACON_FUZZ_SEED=<n> replays a run (the seed is printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { EtcdCluster } from '../harness/etcd.ts';
import { startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { dig, values } from './helpers.ts';
import { encodeQuery, TYPE } from '../../dist/dns/wire.js';
import { prng } from '../harness/prng.ts';

const SEED = Number(process.env.BEACON_FUZZ_SEED ?? 20261122);
const UDP_PACKETS = 6000;
const TCP_CONNECTIONS = 300;

class Fuzzer {
  readonly rand: () => number;
  constructor(seed: number) {
    this.rand = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const NAMES = [
  'a.app.skydns.local.', 'app.skydns.local.', '*.app.skydns.local.', 'b.any.skydns.local.', 'skydns.local.', 'txt.skydns.local.',
  'alias.skydns.local.', 'loop1.skydns.local.', 'many.skydns.local.', 'nope.skydns.local.', 'ext.skydns.local.',
  '1.0.0.10.in-addr.arpa.', '9.9.9.9.in-addr.arpa.', 'www.example.test.', 'A.APP.SKYDNS.LOCAL.', '.',
];
const TYPES = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.TXT, TYPE.CNAME, TYPE.MX, TYPE.NS, TYPE.SOA, TYPE.PTR, 255, 252, 251, 41, 0, 65535, 99];

function header(id: number, flags: number, qd: number, an: number, ns: number, ar: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function labels(parts: readonly (string | Buffer)[]): Buffer {
  return Buffer.concat([...parts.map((p) => {
    const b = typeof p === 'string' ? Buffer.from(p, 'latin1') : p;
    return Buffer.concat([Buffer.from([b.length & 0xff]), b]);
  }), Buffer.from([0])]);
}

const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/** an OPT record: size, version, rdata (options) with a length that may lie */
function opt(size: number, version = 0, rdata: Buffer<ArrayBufferLike> = Buffer.alloc(0), rdlen = rdata.length, name: Buffer<ArrayBufferLike> = Buffer.from([0])): Buffer {
  return Buffer.concat([name, u16(TYPE.OPT), u16(size), Buffer.from([0, version, 0x80, 0]), u16(rdlen), rdata]);
}

/** One hostile packet. */
function packet(f: Fuzzer): Buffer<ArrayBufferLike> {
  const valid = (): Buffer => encodeQuery(f.int(65536), f.pick(NAMES), f.pick(TYPES), f.int(2) ? { ednsSize: f.pick([512, 1232, 4096, 65535, 0x7fff]) } : {});
  const question = (name: Buffer = labels(['a', 'app', 'skydns', 'local'])): Buffer => Buffer.concat([name, u16(f.pick(TYPES)), u16(1)]);
  switch (f.int(16)) {
    case 0:
      return f.bytes(f.int(700));
    case 1: // truncated header
      return valid().subarray(0, f.int(12));
    case 2: {
      // truncated anywhere after the header
      const v = valid();
      return v.subarray(0, 12 + f.int(v.length - 12));
    }
    case 3: {
      // valid query with flipped bits
      const v = Buffer.from(valid());
      for (let i = 1 + f.int(8); i > 0; i--) v[f.int(v.length)]! ^= 1 << f.int(8);
      return v;
    }
    case 4: {
      // label loops via compression pointers: in the question, in an answer, in the OPT owner
      const self = Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), Buffer.from([0xc0, 0x0c]), u16(1), u16(1)]);
      const pair = Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), Buffer.from([0xc0, 0x0e, 0xc0, 0x0c]), u16(1), u16(1)]);
      const q = question();
      const inAnswer = Buffer.concat([header(f.int(65536), 0x0100, 1, 1, 0, 0), q, Buffer.from([0xc0, 12 + q.length]), u16(1), u16(1), Buffer.alloc(4), u16(4), Buffer.alloc(4)]);
      const inOpt = Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 1), q, opt(4096, 0, Buffer.alloc(0), 0, Buffer.from([0xc0, 12 + q.length]))]);
      // a long chain of pointers (in a TXT record's data), each to the one before, named by the OPT owner
      const chainAt = 12 + q.length + 12;
      const chain = Buffer.alloc(240);
      for (let i = 0; i < 120; i++) chain.writeUInt16BE(0xc000 | (i === 0 ? 12 : chainAt + 2 * (i - 1)), 2 * i);
      const lastPointer = Buffer.from([0xc0 | ((chainAt + 238) >> 8), (chainAt + 238) & 0xff]);
      const chained = Buffer.concat([header(f.int(65536), 0x0100, 1, 1, 0, 1), q, Buffer.from([0xc0, 0x0c]), u16(TYPE.TXT), u16(1), Buffer.alloc(4), u16(chain.length), chain, opt(4096, 0, Buffer.alloc(0), 0, lastPointer)]);
      const beyond = Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), Buffer.from([0xc3, 0xff]), u16(1), u16(1)]);
      const extended = Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), Buffer.from([0x41, 0x02, 0x61, 0x62, 0]), u16(1), u16(1)]);
      return f.pick([self, pair, inAnswer, inOpt, chained, beyond, extended]);
    }
    case 5: {
      // counts larger than the packet
      const v = Buffer.from(valid());
      for (let i = 4; i < 12; i += 2) if (f.int(2)) v.writeUInt16BE(f.pick([0xffff, 2, 100, f.int(65536)]), i);
      return v;
    }
    case 6: {
      // EDNS: huge sizes, lying lengths, options past the end, several OPTs, versions
      const q = question(labels([f.pick(['a', 'many', 'www']), f.pick(['app', 'skydns', 'example']), f.pick(['skydns', 'local', 'test']), 'local']));
      const variants = [
        opt(65535),
        opt(0),
        opt(65535, 255),
        opt(4096, 0, Buffer.alloc(0), 0xffff),
        opt(4096, 0, Buffer.concat([u16(10), u16(0xfff0), f.bytes(4)])),
        opt(4096, 0, Buffer.concat([u16(8), u16(8), Buffer.from([0, 1, 32, 0, 127, 0, 0, 1])])),
        opt(4096, 0, f.bytes(f.int(40))),
        Buffer.concat([opt(4096), opt(512)]),
      ];
      const k = f.int(variants.length);
      const ar = f.int(4) === 0 ? 0xffff : k === variants.length - 1 ? 2 : 1;
      return Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, ar), q, variants[k]!]);
    }
    case 7: {
      // names: too long, 63-octet labels, 64+ lengths, odd bytes
      const long = Array.from({ length: 130 }, () => 'x');
      const big = Array.from({ length: 5 }, () => 'y'.repeat(63));
      const odd = [Buffer.from([0, 0x2e, 0xff, 0x80]), Buffer.from('*'), Buffer.from('any'), Buffer.from('app'), Buffer.from('skydns'), Buffer.from('local')];
      const name = f.pick([labels(long), labels(big), labels(odd), Buffer.concat([Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0])]), labels([Buffer.alloc(63, 0x7a), 'skydns', 'local'])]);
      return Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), question(name)]);
    }
    case 8: {
      // every opcode, QR (a response: never answered), Z, TC and rcode bits in a query
      const v = Buffer.from(valid());
      v[2] = f.int(256);
      v[3] = f.int(256);
      return v;
    }
    case 9: {
      // several questions, or none
      const qd = f.int(3) === 0 ? 0 : 2;
      return Buffer.concat([header(f.int(65536), 0x0100, qd, 0, 0, 0), ...(qd === 2 ? [question(), question()] : [])]);
    }
    case 10: {
      // classes and types nobody serves
      const q = Buffer.concat([labels(['a', 'app', 'skydns', 'local']), u16(f.pick(TYPES)), u16(f.pick([1, 3, 4, 254, 255, 0, 65535]))]);
      return Buffer.concat([header(f.int(65536), 0x0100, 1, 0, 0, 0), q]);
    }
    case 11: {
      // junk after a valid query, or inserted/deleted bytes
      const v = valid();
      const at = f.int(v.length);
      return f.int(2) ? Buffer.concat([v, f.bytes(1 + f.int(100))]) : Buffer.concat([v.subarray(0, at), f.bytes(f.int(4)), v.subarray(at + f.int(4))]);
    }
    case 12: {
      // records in every section with random rdata lengths
      const rr = (): Buffer => Buffer.concat([Buffer.from([0xc0, 0x0c]), u16(f.pick(TYPES)), u16(1), Buffer.alloc(4), u16(f.int(2) ? 4 : f.int(65536)), f.bytes(f.int(20))]);
      return Buffer.concat([header(f.int(65536), 0x0100, 1, 1, 1, 1), question(), rr(), rr(), rr()]);
    }
    case 13:
      return Buffer.alloc(f.int(600));
    default:
      // plenty of plain valid queries between the hostile ones (they exercise the answer cache)
      return valid();
  }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS in /proc/<pid>/status');
  return Number(m[1]);
}

/** What every reply must be: a response (QR), at least a header, and within our UDP budget. */
function checkReply(reply: Buffer, udp: boolean, problems: string[]): void {
  if (reply.length < 12) problems.push(`reply of ${reply.length} bytes`);
  else if ((reply[2]! & 0x80) === 0) problems.push('reply without QR');
  if (udp && reply.length > 4096) problems.push(`UDP reply of ${reply.length} bytes`);
}

async function fuzzUdp(f: Fuzzer, port: number, problems: string[]): Promise<{ sent: number; replies: number }> {
  const socket = createSocket('udp4');
  let replies = 0;
  socket.on('message', (msg) => {
    replies++;
    checkReply(msg, true, problems);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  for (let i = 0; i < UDP_PACKETS; i++) {
    const p = packet(f);
    await new Promise<void>((resolve) => socket.send(p, port, '127.0.0.1', () => resolve()));
    // let the server keep up (drops are fine, but a steady stream exercises more of it)
    if (i % 100 === 99) await sleep(5);
  }
  await sleep(500);
  socket.close();
  return { sent: UDP_PACKETS, replies };
}

/** One hostile TCP conversation, then close. */
async function fuzzTcpConnection(f: Fuzzer, port: number, problems: string[]): Promise<number> {
  const socket: Socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  let replies = 0;
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const len = buffered.readUInt16BE(0);
      checkReply(buffered.subarray(2, 2 + len), false, problems);
      buffered = buffered.subarray(2 + len);
      replies++;
    }
  });
  const connected = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
  });
  if (!connected) return 0;
  const frame = (p: Buffer): Buffer => Buffer.concat([u16(p.length), p]);
  let stream: Buffer;
  switch (f.int(6)) {
    case 0: // well-framed hostile messages, pipelined
      stream = Buffer.concat(Array.from({ length: 1 + f.int(20) }, () => frame(packet(f))));
      break;
    case 1: {
      // a length prefix that lies (longer than what follows), then close
      const p = packet(f);
      stream = Buffer.concat([u16(p.length + 1 + f.int(60000)), p]);
      break;
    }
    case 2: // a prefix shorter than a header (the server hangs up)
      stream = Buffer.concat([frame(packet(f)), u16(f.int(12)), f.bytes(f.int(50))]);
      break;
    case 3: {
      // half a frame, then close
      const whole = frame(packet(f));
      stream = whole.subarray(0, f.int(whole.length));
      break;
    }
    case 4: // random bytes
      stream = f.bytes(f.int(2000));
      break;
    default: {
      // a maximal frame of junk after a good one
      stream = Buffer.concat([frame(encodeQuery(1, 'a.app.skydns.local.', TYPE.A)), u16(0xffff), f.bytes(0xffff)]);
      break;
    }
  }
  // written in random pieces
  for (let at = 0; at < stream.length && !socket.destroyed; ) {
    const n = 1 + f.int(Math.min(stream.length - at, f.int(2) ? 7 : 4000));
    socket.write(stream.subarray(at, at + n));
    at += n;
    if (f.int(4) === 0) await sleep(1);
  }
  await sleep(20 + f.int(50));
  socket.destroy();
  return replies;
}

test(`hostile packets over UDP and TCP do not hurt beacon dns (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const records: Record<string, string> = {
    '/skydns/local/skydns/app/a': '{"host":"10.0.0.1","port":80}',
    '/skydns/local/skydns/app/b': '{"host":"10.0.0.2","port":81,"weight":300}',
    '/skydns/local/skydns/txt': '{"text":"hello"}',
    '/skydns/local/skydns/alias': '{"host":"a.app.skydns.local."}',
    '/skydns/local/skydns/loop1': '{"host":"loop2.skydns.local."}',
    '/skydns/local/skydns/loop2': '{"host":"loop1.skydns.local."}',
    '/skydns/local/skydns/ext': '{"host":"www.example.test."}',
    '/skydns/arpa/in-addr/10/0/0/1': '{"host":"a.app.skydns.local."}',
  };
  for (const [k, v] of Object.entries(records)) await etcd.put(k, v);
  for (let i = 0; i < 80; i++) await etcd.put(`/skydns/local/skydns/many/i${i}`, JSON.stringify({ host: `10.50.0.${i}`, port: 80 }));

  // forwarding goes to a port where nobody answers: fuzzed out-of-zone names cost a quick failure
  const dead = await freePort(true);
  const port = await freePort(true);
  const admin = await freePort();
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', etcd.url, '--admin', `127.0.0.1:${admin}`, '--udp-workers', '1', '--forward', `127.0.0.1:${dead}`, '--forward-timeout', '100ms']);
  t.after(() => dns.stop());
  await dns.waitForLog('dns index ready');
  const pid = dns.child.pid!;

  const correct = async (): Promise<void> => {
    for (const transport of [[], ['+tcp']]) {
      const a = await dig(port, 'a.app.skydns.local', 'A', ...transport);
      assert.equal(a.status, 'NOERROR', a.raw);
      assert.deepEqual(a.answer, ['a.app.skydns.local. 30 A 10.0.0.1']);
      const alias = await dig(port, 'alias.skydns.local', 'A', ...transport);
      assert.deepEqual(alias.answer, ['alias.skydns.local. 30 CNAME a.app.skydns.local.', 'a.app.skydns.local. 30 A 10.0.0.1']);
      const srv = await dig(port, 'app.skydns.local', 'SRV', ...transport);
      assert.equal(values(srv, 'SRV').length, 2);
      assert.equal(srv.additional.length, 2);
      const nx = await dig(port, 'nope.skydns.local', 'A', ...transport);
      assert.equal(nx.status, 'NXDOMAIN');
      const many = await dig(port, 'many.skydns.local', 'A', '+bufsize=512', '+ignore', ...transport);
      assert.equal(values(many, 'A').length, transport.length ? 80 : values(many, 'A').length);
      if (!transport.length) assert.ok(many.flags.includes('tc'), 'TC on UDP');
    }
  };
  await correct();
  // warm up the code paths before the baseline, so the comparison is about growth under load
  const warm = new Fuzzer(SEED ^ 0x5eed);
  const warmProblems: string[] = [];
  for (let i = 0; i < 20; i++) await fuzzTcpConnection(warm, port, warmProblems);
  await sleep(300);
  const rssBefore = rssKb(pid);

  const started = Date.now();
  const f = new Fuzzer(SEED);
  const problems: string[] = [];
  const udp = await fuzzUdp(f, port, problems);
  let tcpReplies = 0;
  for (let i = 0; i < TCP_CONNECTIONS; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, TCP_CONNECTIONS - i) }, (_, k) => fuzzTcpConnection(new Fuzzer(SEED + 1 + i + k), port, problems)));
    tcpReplies += batch.reduce((a, b) => a + b, 0);
  }
  const elapsed = Date.now() - started;
  t.diagnostic(`seed ${SEED}: ${udp.sent} UDP packets (${udp.replies} replies), ${TCP_CONNECTIONS} TCP connections (${tcpReplies} replies) in ${elapsed} ms`);

  assert.deepEqual(problems.slice(0, 10), [], 'every reply is a well-formed response');
  assert.ok(udp.replies > UDP_PACKETS / 10, `the server kept answering UDP during the fuzz (${udp.replies})`);
  assert.ok(tcpReplies > TCP_CONNECTIONS, `the server kept answering TCP during the fuzz (${tcpReplies})`);

  // still serving, correctly, over UDP and TCP
  await correct();
  assert.equal(dns.child.exitCode, null, 'alive');
  assert.equal(dns.child.signalCode, null, 'alive');
  const status = JSON.parse((await httpGet(admin, '127.0.0.1', '/status')).body) as { udpWorkers: number; tcpConnections: number; ready: boolean };
  assert.equal(status.udpWorkers, 1, 'the UDP worker survived');
  assert.equal(status.ready, true);
  await waitFor('every fuzz TCP connection closed on the server', async () => {
    const s = JSON.parse((await httpGet(admin, '127.0.0.1', '/status')).body) as { tcpConnections: number };
    return s.tcpConnections === 0;
  }, 15_000, 100);
  const metrics = (await httpGet(admin, '127.0.0.1', '/metrics')).body;
  const malformed = Number(/^beacon_dns_malformed_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  assert.ok(malformed > 100, `malformed packets were seen and counted (${malformed})`);
  const errors = dns.logs().filter((l) => l.level === 'error' || l.level === 50 || l.level === 'fatal' || l.level === 60);
  assert.deepEqual(errors.slice(0, 5), [], 'nothing logged as an error');

  const rssAfter = rssKb(pid);
  t.diagnostic(`RSS ${Math.round(rssBefore / 1024)} MB -> ${Math.round(rssAfter / 1024)} MB`);
  assert.ok(rssAfter - rssBefore < 100 * 1024, `RSS grew by ${Math.round((rssAfter - rssBefore) / 1024)} MB`);
});

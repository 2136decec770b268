// `npm run bench -- scale`: beacon at 10,000 and 100,000 instances. A real etcd (loopback, temp
// dir) is loaded with N instances (N/10 services x 10, each instance in /services and in /skydns,
// in transactions of 128 puts); then dns, proxy and render (--nginx-upstreams) run as real
// dist/cli.js processes, one after the other, and each size reports: time to ready (spawn ->
// /readyz 200, render: the upstreams file written), RSS, put->answer latency over CHANGES changes
// (from the put's acknowledgement to: the DNS answer changed, the proxy routes to the instance's
// new address, render wrote the file), and DNS query latency during a burst of 1,000 changes/s.
// There is no peer to compare with here: the targets are the yardstick.
// Env: BENCH_SCALE_SIZES (default 10000,100000), BENCH_SCALE_CHANGES (default 200),
// BENCH_SCALE_RENDER_CHANGES (default 200), BENCH_SCALE_BURST_SECONDS (default 5), BENCH_SCALE_RATE (default 1000),
// BENCH_SCALE_MODES (default dns,proxy,render), BENCH_SCALE_NODE_ARGS (for the beacon processes,
// e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where start-up goes), BENCH_SCALE_STDOUT (a
// directory for the processes' stdout, e.g. with `--trace-gc`), BENCH_SCALE_SLOW (ms: print each change slower than this,
// with its time since the process started, to set beside --trace-gc).
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { decodeMessage, encodeQuery, rdataText, TYPE } from '../dist/dns/wire.js';
import { collectGarbage } from '../dist/heap.js';
import { freePort } from './lib/processes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'cli.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10000,100000').split(',').map(Number);
const CHANGES = Number(process.env.BENCH_SCALE_CHANGES ?? 200);
const RENDER_CHANGES = Number(process.env.BENCH_SCALE_RENDER_CHANGES ?? 200);
const BURST_SECONDS = Number(process.env.BENCH_SCALE_BURST_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_SCALE_RATE ?? 1000);
const MODES = new Set((process.env.BENCH_SCALE_MODES ?? 'dns,proxy,render').split(','));
const NODE_ARGS = (process.env.BENCH_SCALE_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SLOW_MS = Number(process.env.BENCH_SCALE_SLOW ?? Infinity);
const PER_SERVICE = 10;
/** the instance (i3.svc7) whose answer shows a DNS server has loaded the data; bursts leave it as loaded */
const PROBE_INSTANCE = 73;
const TXN_OPS = 128;

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.at(-1) };
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function start(cmd, args, name) {
  // BENCH_SCALE_STDOUT=DIR keeps each process's stdout (e.g. --trace-gc in BENCH_SCALE_NODE_ARGS)
  const outDir = process.env.BENCH_SCALE_STDOUT;
  const stdout = outDir ? openSync(join(outDir, `${name}.${Date.now()}.out`), 'w') : 'ignore';
  const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  child.name = name;
  child.tail = () => err;
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
}

function httpGet(port, path, host, agent) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers: host ? { host } : {}, agent, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitReady(child, adminPort, deadlineMs = 120_000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${child.name} exited ${child.exitCode}: ${child.tail()}`);
    if ((await httpGet(adminPort, '/readyz')).status === 200) return;
    await sleep(10);
  }
  throw new Error(`${child.name} not ready: ${child.tail()}`);
}

/** One UDP client: a query and its answers (A records as text), or undefined after `timeoutMs`. */
class DnsClient {
  constructor(port) {
    this.port = port;
    this.socket = createSocket('udp4');
    this.waiting = new Map();
    this.id = 0;
    this.socket.on('message', (msg) => {
      const id = msg.readUInt16BE(0);
      const w = this.waiting.get(id);
      if (!w) return;
      this.waiting.delete(id);
      clearTimeout(w.timer);
      w.resolve(decodeMessage(msg).answer.filter((rr) => rr.type === TYPE.A).map((rr) => rdataText(rr)));
    });
  }
  query(name, timeoutMs = 200) {
    const id = (this.id = (this.id + 1) & 0xffff);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, { resolve, timer });
      this.socket.send(encodeQuery(id, name, TYPE.A, { ednsSize: 4096 }), this.port, '127.0.0.1');
    });
  }
  close() {
    this.socket.close();
  }
}

function instanceIp(n) {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** instances [from, to) into both prefixes, TXN_OPS puts per transaction, 8 transactions in flight */
async function load(client, from, to) {
  const ops = [];
  for (let n = from; n < to; n++) {
    const service = `svc${Math.floor(n / PER_SERVICE)}`;
    const id = `i${n % PER_SERVICE}`;
    ops.push([`/services/${service}/${id}`, `${instanceIp(n)}:8080`]);
    ops.push([`/skydns/local/skydns/${service}/${id}`, JSON.stringify({ host: instanceIp(n), port: 8080 })]);
  }
  let next = 0;
  const worker = async () => {
    while (next < ops.length) {
      const batch = ops.slice(next, next + TXN_OPS);
      next += TXN_OPS;
      await client.kv.txn({ success: batch.map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })) });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function measureDns(client, etcdUrl, size, dir) {
  const port = await freePort();
  const admin = await freePort();
  const t0 = performance.now();
  const child = start(process.execPath, [...NODE_ARGS, CLI, 'dns', '--store', etcdUrl, '--listen', `127.0.0.1:${port}`, '--no-recursion', '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn'], 'dns');
  try {
    await waitReady(child, admin);
    const ready = performance.now() - t0;
    const dns = new DnsClient(port);
    // warm: the answer of a loaded name
    const probe = await dns.query(`i${PROBE_INSTANCE % PER_SERVICE}.svc${Math.floor(PROBE_INSTANCE / PER_SERVICE)}.skydns.local.`, 2000);
    if (!probe || probe[0] !== instanceIp(PROBE_INSTANCE)) throw new Error(`dns answers ${JSON.stringify(probe)} for i3.svc7`);
    const rssReady = rssMb(child.pid);
    const latencies = [];
    for (let k = 0; k < CHANGES; k++) {
      const name = `p${k}.probe.skydns.local.`;
      const ip = `10.250.${k >> 8}.${k & 255}`;
      // a cached negative answer first (cached from a name's second ask): the change must drop it
      await dns.query(name);
      await dns.query(name);
      await client.put(`/skydns/local/skydns/probe/p${k}`).value(JSON.stringify({ host: ip }));
      const acked = performance.now();
      for (;;) {
        const got = await dns.query(name);
        if (got && got.includes(ip)) break;
        if (performance.now() - acked > 10_000) throw new Error(`dns never answered ${name}`);
      }
      latencies.push(performance.now() - acked);
      if (latencies.at(-1) > SLOW_MS) console.log(`  slow dns change ${k}: ${f(latencies.at(-1), 2)} ms, ${f(acked - t0, 0)} ms after spawn (bench clock ${f(performance.now(), 0)} ms)`);
    }
    const burst = await dnsBurst(client, dns, size);
    const rssEnd = rssMb(child.pid);
    dns.close();
    await client.delete().prefix('/skydns/local/skydns/probe/');
    return { ready, rss: Math.max(rssReady, rssEnd), rssReady, latency: summary(latencies), burst };
  } finally {
    await stop(child);
  }
}

/** RATE instance changes per second (one put each, in /skydns, in transactions every 10 ms) while 4 clients query names */
async function dnsBurst(client, dns, size) {
  let running = true;
  let changes = 0;
  const writer = (async () => {
    const started = performance.now();
    let tick = 0;
    while (performance.now() - started < BURST_SECONDS * 1000) {
      tick++;
      const due = Math.floor((tick * RATE) / 100) - changes;
      const ops = [];
      for (let i = 0; i < due; i++) {
        const n = Math.floor(Math.random() * size);
        if (n === PROBE_INSTANCE) continue;
        ops.push({ request_put: { key: Buffer.from(`/skydns/local/skydns/svc${Math.floor(n / PER_SERVICE)}/i${n % PER_SERVICE}`), value: Buffer.from(JSON.stringify({ host: instanceIp((n + tick) % size), port: 8080 })) } });
      }
      changes += ops.length;
      if (ops.length > 0) void client.kv.txn({ success: ops }).catch(() => undefined);
      const next = started + tick * 10;
      await sleep(Math.max(0, next - performance.now()));
    }
    return performance.now() - started;
  })();
  const samples = [];
  let lost = 0;
  const reader = async () => {
    while (running) {
      const n = Math.floor(Math.random() * size);
      const t = performance.now();
      const got = await dns.query(`i${n % PER_SERVICE}.svc${Math.floor(n / PER_SERVICE)}.skydns.local.`, 1000);
      if (got === undefined) lost++;
      samples.push(performance.now() - t);
    }
  };
  const readers = Array.from({ length: 4 }, reader);
  const elapsed = await writer;
  running = false;
  await Promise.all(readers);
  return { rate: Math.round(changes / (elapsed / 1000)), queries: summary(samples), lost };
}

async function measureProxy(client, etcdUrl, size, backends) {
  const port = await freePort();
  const admin = await freePort();
  const t0 = performance.now();
  const child = start(process.execPath, [...NODE_ARGS, CLI, 'proxy', '--store', etcdUrl, '--listen', `127.0.0.1:${port}`, '--domain', 'bench.local', '--no-access-log', '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn'], 'proxy');
  try {
    await waitReady(child, admin);
    const ready = performance.now() - t0;
    const rssReady = rssMb(child.pid);
    const host = 'probe.bench.local';
    await client.put('/services/probe/i1').value(`127.0.0.1:${backends[0].port}`);
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    for (let tries = 0; (await httpGet(port, '/', host, agent)).body !== backends[0].name; tries++) {
      if (tries > 1000) throw new Error('proxy never routed to the probe service');
      await sleep(5);
    }
    const latencies = [];
    for (let k = 1; k <= CHANGES; k++) {
      const to = backends[k % 2];
      await client.put('/services/probe/i1').value(`127.0.0.1:${to.port}`);
      const acked = performance.now();
      for (;;) {
        const res = await httpGet(port, '/', host, agent);
        if (res.body === to.name) break;
        if (performance.now() - acked > 10_000) throw new Error('proxy never routed to the new address');
      }
      latencies.push(performance.now() - acked);
      if (latencies.at(-1) > SLOW_MS) console.log(`  slow proxy change ${k}: ${f(latencies.at(-1), 2)} ms, ${f(acked - t0, 0)} ms after spawn (bench clock ${f(performance.now(), 0)} ms)`);
    }
    agent.destroy();
    const rssEnd = rssMb(child.pid);
    await client.delete().key('/services/probe/i1');
    return { ready, rss: Math.max(rssReady, rssEnd), rssReady, latency: summary(latencies) };
  } finally {
    await stop(child);
  }
}

function fileVersion(path) {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  } catch {
    return '';
  }
}

async function measureRender(client, etcdUrl, size, dir) {
  const admin = await freePort();
  const file = join(dir, `upstreams-${size}.conf`);
  mkdirSync(join(dir, 'confd'), { recursive: true });
  const t0 = performance.now();
  const child = start(process.execPath, [...NODE_ARGS, CLI, 'render', '--store', etcdUrl, '--confdir', join(dir, 'confd'), '--nginx-upstreams', file, '--wait', '0', '--admin', `127.0.0.1:${admin}`, '--log-level', 'warn'], 'render');
  try {
    await waitReady(child, admin);
    const last = `server ${instanceIp(size - 1)}:8080`;
    while (!(fileVersion(file) && readFileSync(file, 'utf8').includes(last))) {
      if (performance.now() - t0 > 120_000) throw new Error(`render never wrote ${file}`);
      await sleep(5);
    }
    const ready = performance.now() - t0;
    const rssReady = rssMb(child.pid);
    const latencies = [];
    for (let k = 0; k < RENDER_CHANGES; k++) {
      const address = `127.0.0.2:${10000 + k}`;
      const before = fileVersion(file);
      await client.put(`/services/probe/r${k}`).value(address);
      const acked = performance.now();
      let seen = before;
      for (;;) {
        const now = fileVersion(file);
        if (now !== seen) {
          seen = now;
          if (readFileSync(file, 'utf8').includes(`server ${address}`)) break;
        }
        if (performance.now() - acked > 30_000) throw new Error('render never wrote the change');
        await sleep(1);
      }
      latencies.push(performance.now() - acked);
    }
    const rssEnd = rssMb(child.pid);
    await client.delete().prefix('/services/probe/');
    return { ready, rss: Math.max(rssReady, rssEnd), rssReady, latency: summary(latencies) };
  } finally {
    await stop(child);
  }
}

async function startEtcd(dir) {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const child = start('etcd', [
    '--name', 'bench', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peerPort}`,
    // 200,000 keys and their history: more than the 2 GiB default quota leaves for a second run
    '--quota-backend-bytes', String(8 * 1024 ** 3),
    '--log-level', 'error',
  ], 'etcd');
  const client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}` });
  for (let i = 0; ; i++) {
    try {
      await client.get('/ping').string();
      break;
    } catch (err) {
      if (i > 200) throw new Error(`etcd did not start: ${err.message} ${child.tail()}`);
      await sleep(100);
    }
  }
  return { child, client, url: `etcd://127.0.0.1:${clientPort}` };
}

function backend(name) {
  const server = createServer((req, res) => res.end(name));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ name, server, port: server.address().port })));
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-bench-scale-'));
  const etcd = await startEtcd(dir);
  const backends = [await backend('a'), await backend('b')];
  const rows = [];
  try {
    let loaded = 0;
    for (const size of SIZES) {
      const t = performance.now();
      await load(etcd.client, loaded, size);
      loaded = size;
      console.log(`loaded ${size} instances (${size * 2} keys) in ${f((performance.now() - t) / 1000)} s`);
      // the bench's own garbage (the load's 200,000 puts) collected now: its pauses are not beacon's latency
      collectGarbage();
      const dns = MODES.has('dns') ? await measureDns(etcd.client, etcd.url, size, dir) : undefined;
      if (dns) console.log(`  dns    ready ${f(dns.ready, 0)} ms, RSS ${f(dns.rss, 0)} MB, put->answer p50 ${f(dns.latency.p50, 2)} p99 ${f(dns.latency.p99, 2)} ms; burst ${dns.burst.rate} changes/s: query p50 ${f(dns.burst.queries.p50, 2)} p99 ${f(dns.burst.queries.p99, 2)} ms over ${dns.burst.queries.n} queries, ${dns.burst.lost} lost`);
      collectGarbage();
      const proxy = MODES.has('proxy') ? await measureProxy(etcd.client, etcd.url, size, backends) : undefined;
      if (proxy) console.log(`  proxy  ready ${f(proxy.ready, 0)} ms, RSS ${f(proxy.rss, 0)} MB, put->routed p50 ${f(proxy.latency.p50, 2)} p99 ${f(proxy.latency.p99, 2)} ms`);
      collectGarbage();
      const render = MODES.has('render') ? await measureRender(etcd.client, etcd.url, size, dir) : undefined;
      if (render) console.log(`  render ready ${f(render.ready, 0)} ms, RSS ${f(render.rss, 0)} MB, put->file p50 ${f(render.latency.p50, 2)} p99 ${f(render.latency.p99, 2)} ms`);
      rows.push({ size, dns, proxy, render });
    }
  } finally {
    etcd.client.close();
    await stop(etcd.child);
    for (const b of backends) b.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| instances | mode | ready ms | RSS MB | put->answer p50 ms | p99 ms | burst query p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.dns) console.log(`| ${r.size} | dns | ${f(r.dns.ready, 0)} | ${f(r.dns.rss, 0)} | ${f(r.dns.latency.p50, 2)} | ${f(r.dns.latency.p99, 2)} | ${f(r.dns.burst.queries.p50, 2)} | ${f(r.dns.burst.queries.p99, 2)} (${r.dns.burst.rate}/s, ${r.dns.burst.lost} lost) |`);
    if (r.proxy) console.log(`| ${r.size} | proxy | ${f(r.proxy.ready, 0)} | ${f(r.proxy.rss, 0)} | ${f(r.proxy.latency.p50, 2)} | ${f(r.proxy.latency.p99, 2)} | | |`);
    if (r.render) console.log(`| ${r.size} | render | ${f(r.render.ready, 0)} | ${f(r.render.rss, 0)} | ${f(r.render.latency.p50, 2)} | ${f(r.render.latency.p99, 2)} | | |`);
  }
  console.log(`\n${JSON.stringify(rows)}`);
}

// `npm run bench -- dns`: dnsperf against beacon dns and against dnsmasq serving the same names,
// in the same run, loopback only, in two cases: in-zone names (beacon reads its records from the
// embedded file:// store, dnsmasq from a hosts file) and forwarded names (both forward to an
// upstream dnsmasq and answer from their caches, warmed first).
// Env: BENCH_DNS_SECONDS (default 10, per server and case, split into BENCH_DNS_ROUNDS rounds, default 3), BENCH_DNS_NAMES (default 100),
// BENCH_DNS_EXTERNAL (forwarded names, default 1000), BENCH_DNS_CLIENTS (default 16),
// BENCH_DNS_UDP_WORKERS (beacon's --udp-workers; default: beacon's own default, CPUs - 1).
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'cli.js');
const exec = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SECONDS = Number(process.env.BENCH_DNS_SECONDS ?? 10);
// the measured time is split into rounds that alternate which server goes first, so a burst of
// load from elsewhere on the machine hits both about equally
const ROUNDS = Number(process.env.BENCH_DNS_ROUNDS ?? 3);
const NAMES = Number(process.env.BENCH_DNS_NAMES ?? 100);
// 16 client sockets: the kernel spreads clients over beacon's SO_REUSEPORT sockets by address hash,
// and with very few clients all of them may land on one socket.
const CLIENTS = Number(process.env.BENCH_DNS_CLIENTS ?? 16);
// the forwarded case: external names answered from beacon's forward cache and dnsmasq's cache
const EXTERNAL = Number(process.env.BENCH_DNS_EXTERNAL ?? 1000);

async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    const ok = await new Promise((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

async function findBinary(bin, pkg) {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    try {
      await exec('test', ['-x', join(dir, bin)]);
      return join(dir, bin);
    } catch {
      /* next */
    }
  }
  throw new Error(`${bin} is missing: apt-get install -y ${pkg}`);
}

async function answers(port, name) {
  try {
    const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(port), name, 'A', '+short', '+time=1', '+tries=1']);
    return stdout.trim();
  } catch {
    return '';
  }
}

async function waitAnswer(port, name, want, what) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if ((await answers(port, name)) === want) return;
    await sleep(100);
  }
  throw new Error(`${what} did not answer ${name} with ${want}`);
}

function parseDnsperf(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    stddevLatencyMs: num(/Latency StdDev \(s\):\s+([\d.]+)/) * 1000,
    lost: num(/Queries lost:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    // e.g. "NOERROR 100.00%": a server answering errors fast must not look fast
    noerror: num(/NOERROR \d+ \(([\d.]+)%\)/),
  };
}

async function dnsperf(port, queryFile, seconds, extra = ['-l', String(seconds), '-c', String(CLIENTS), '-q', '200']) {
  const { stdout } = await exec('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, ...extra], {
    timeout: (seconds + 30) * 1000,
    maxBuffer: 10 * 1024 * 1024,
  });
  return parseDnsperf(stdout);
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** warm-up, then ROUNDS alternating rounds of dnsperf against each; the median per-round ratio */
async function compare(label, beaconPort, dnsmasqPort, queryFile, target) {
  console.log(`-- ${label}`);
  await dnsperf(beaconPort, queryFile, 2);
  await dnsperf(dnsmasqPort, queryFile, 2);
  const per = Math.max(1, Math.round(SECONDS / ROUNDS));
  const rounds = { beacon: [], dnsmasq: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['beacon', 'dnsmasq'] : ['dnsmasq', 'beacon'];
    for (const who of order) rounds[who].push(await dnsperf(who === 'beacon' ? beaconPort : dnsmasqPort, queryFile, per));
    console.log(`round ${r + 1}: beacon ${rounds.beacon[r].qps.toFixed(0)} q/s, dnsmasq ${rounds.dnsmasq[r].qps.toFixed(0)} q/s`);
  }
  const combine = (list) => ({
    qps: list.reduce((a, x) => a + x.qps, 0) / list.length,
    avgLatencyMs: list.reduce((a, x) => a + x.avgLatencyMs * x.completed, 0) / list.reduce((a, x) => a + x.completed, 0),
    stddevLatencyMs: Math.max(...list.map((x) => x.stddevLatencyMs)),
    lost: list.reduce((a, x) => a + x.lost, 0),
    completed: list.reduce((a, x) => a + x.completed, 0),
  });
  const b = combine(rounds.beacon);
  const d = combine(rounds.dnsmasq);
  const fmt = (name, r, list) =>
    `${name.padEnd(12)} ${r.qps.toFixed(0).padStart(8)} q/s   avg latency ${r.avgLatencyMs.toFixed(3)} ms (max round stddev ${r.stddevLatencyMs.toFixed(3)} ms)   lost ${r.lost}/${r.completed + r.lost}   NOERROR ${Math.min(...list.map((x) => x.noerror))}%`;
  console.log(fmt('beacon dns', b, rounds.beacon));
  console.log(fmt('dnsmasq', d, rounds.dnsmasq));
  const ratio = median(rounds.beacon.map((x, i) => x.qps / rounds.dnsmasq[i].qps));
  console.log(`ratio beacon/dnsmasq (median of per-round ratios): ${ratio.toFixed(2)}x (target >= ${target}x)`);
  return { beacon: b, dnsmasq: d, ratio };
}

export async function run() {
  const dnsmasqBin = await findBinary('dnsmasq', 'dnsmasq-base');
  await findBinary('dnsperf', 'dnsperf');
  const dir = mkdtempSync(join(tmpdir(), 'beacon-bench-dns-'));
  const children = [];
  try {
    // the same names for both: s<i>.bench.skydns.local -> 10.60.x.y, one A record each
    const names = Array.from({ length: NAMES }, (_, i) => ({ name: `s${i}.bench.skydns.local`, ip: `10.60.${(i + 1) >> 8}.${(i + 1) & 255}` }));
    const { FileStore } = await import(join(here, '..', 'dist', 'store', 'file.js'));
    const storeDir = join(dir, 'store');
    const store = new FileStore(storeDir);
    for (const { name, ip } of names) {
      const key = `/skydns/${name.split('.').reverse().join('/')}`;
      await store.put(key, JSON.stringify({ host: ip, port: 80 }));
    }
    await store.close();
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, names.map(({ name, ip }) => `${ip} ${name}`).join('\n') + '\n');
    const queries = join(dir, 'queries');
    writeFileSync(queries, names.map(({ name }) => `${name} A`).join('\n') + '\n');

    // forwarded names: e<i>.bench.example served by an upstream dnsmasq (TTL 1 h) that both beacon
    // (--forward) and the peer dnsmasq (--server, its cache on) forward to; both caches warm
    const external = Array.from({ length: EXTERNAL }, (_, i) => ({ name: `e${i}.bench.example`, ip: `10.61.${(i + 1) >> 8}.${(i + 1) & 255}` }));
    const upstreamHosts = join(dir, 'upstream-hosts');
    writeFileSync(upstreamHosts, external.map(({ name, ip }) => `${ip} ${name}`).join('\n') + '\n');
    const externalQueries = join(dir, 'external-queries');
    writeFileSync(externalQueries, external.map(({ name }) => `${name} A`).join('\n') + '\n');
    const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
    const upstreamPort = await freePort();
    const upstream = spawn(dnsmasqBin, ['--no-daemon', `--port=${upstreamPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', `--addn-hosts=${upstreamHosts}`, '--local-ttl=3600', ...asRoot, '--pid-file='], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(upstream);

    const beaconPort = await freePort();
    const beacon = spawn(process.execPath, [CLI, 'dns', '--listen', `127.0.0.1:${beaconPort}`, '--store', `file://${storeDir}`, '--forward', `127.0.0.1:${upstreamPort}`, '--log-level', 'warn', ...(process.env.BENCH_DNS_UDP_WORKERS ? ['--udp-workers', process.env.BENCH_DNS_UDP_WORKERS] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(beacon);
    const dnsmasqPort = await freePort();
    const dnsmasq = spawn(dnsmasqBin, ['--no-daemon', `--port=${dnsmasqPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--local-ttl=30', '--cache-size=10000', `--server=/bench.example/127.0.0.1#${upstreamPort}`, ...asRoot, '--pid-file='], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(dnsmasq);
    await waitAnswer(upstreamPort, external[0].name, external[0].ip, 'upstream dnsmasq');
    await waitAnswer(beaconPort, names[0].name, names[0].ip, 'beacon dns');
    await waitAnswer(dnsmasqPort, names[0].name, names[0].ip, 'dnsmasq');
    await waitAnswer(beaconPort, names[NAMES - 1].name, names[NAMES - 1].ip, 'beacon dns');

    console.log(`dnsperf: ${CLIENTS} clients, ${SECONDS}s per server and case, loopback; node ${process.version}, ${availableParallelism()} CPUs, beacon --udp-workers ${process.env.BENCH_DNS_UDP_WORKERS ?? 'default'}`);
    const inZone = await compare(`in-zone: ${NAMES} names (A, cached)`, beaconPort, dnsmasqPort, queries, 0.5);
    // warm both caches: every external name once through each, a few at a time (dnsmasq forwards
    // at most 150 at once and answers the rest with an error)
    for (const port of [beaconPort, dnsmasqPort]) await dnsperf(port, externalQueries, 0, ['-n', '1', '-c', '1', '-q', '20']);
    const forwarded = await compare(`forwarded: ${EXTERNAL} external names (A, forward cache warm; dnsmasq --cache-size=10000)`, beaconPort, dnsmasqPort, externalQueries, 0.8);
    return { inZone, forwarded };
  } finally {
    await Promise.all(children.map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

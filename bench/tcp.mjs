// beacon proxy --tcp vs HAProxy (mode tcp, nbthread 1), same run, same upstream (one nginx
// worker), same wrk settings. `npm run bench -- tcp` (after `npm run build`). Beside them in the
// same rounds: beacon --workers 2 and HAProxy nbthread 2 (both use both cores), and a bare Node
// forwarder (what Node's sockets cost with no proxy logic).
//   short: every request a new TCP connection through the proxy (wrk with Connection: close)
//          -> connections per second
//   long:  8 keep-alive connections pulling a 1 MiB file over and over -> MB/s through the proxy
// Ratios are taken within a round (targets measured back to back, order alternating), and the
// median of the per-round ratios is reported: this shared 2-core machine drifts between minutes.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, children } from './lib/processes.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(root, 'dist', 'cli.js');
const ROUNDS = 5;
const SHORT_ARGS = ['-t2', '-c32', '-d6s', '-H', 'Connection: close'];
const LONG_ARGS = ['-t2', '-c8', '-d6s'];
const WARMUP_ARGS = ['-t2', '-c32', '-d5s'];

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout.on('data', (c) => (out += c.toString()));
  child.stderr.on('data', (c) => (out += c.toString()));
  child.on('exit', (code) => {
    children.delete(child);
    if (code !== 0 && code !== null) console.error(`${cmd} exited ${code}: ${out.slice(-2000)}`);
  });
  return child;
}

async function waitHttp(url) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers 200 on ${url}`);
}

function toBytes(text) {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2]];
}

function wrk(url, args) {
  const out = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const mbps = toBytes(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '') / 1024 ** 2;
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0');
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  return { rps, mbps, errors, socketErrors };
}

function nginxConfig(dir, port) {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:${port} reuseport;
    root ${dir}/www;
    location = /small { return 200 "ok\\n"; }
  }
}
`;
}

function haproxyConfig(port, upstream, threads) {
  return `global
  nbthread ${threads}
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend bench
  bind 127.0.0.1:${port}
  default_backend up
backend up
  server u1 127.0.0.1:${upstream}
`;
}

// The least a Node.js forwarder does (accept, connect, pipe both ways): what Node's sockets cost
// here, apart from anything beacon adds.
const FLOOR_SOURCE = `
const net = require('node:net');
const [port, up] = process.argv.slice(1).map(Number);
net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
  const u = net.connect({ port: up, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u);
  u.pipe(c);
}).listen(port, '127.0.0.1');
`;

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const median = (values) => {
  const v = [...values].sort((x, y) => x - y);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-bench-tcp-'));
  try {
    // the upstream: one nginx worker, a tiny answer and a 1 MiB file
    const nginxDir = join(dir, 'nginx');
    mkdirSync(join(nginxDir, 'www'), { recursive: true });
    writeFileSync(join(nginxDir, 'www', 'big'), Buffer.alloc(1024 * 1024, 'x'));
    // nginx's worker drops root: it must be able to read the file (mkdtemp makes 0700)
    for (const d of [dir, nginxDir, join(nginxDir, 'www')]) chmodSync(d, 0o755);
    chmodSync(join(nginxDir, 'www', 'big'), 0o644);
    const upstreamPort = await freePort();
    writeFileSync(join(nginxDir, 'nginx.conf'), nginxConfig(nginxDir, upstreamPort));
    start('/usr/sbin/nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')]);
    await waitHttp(`http://127.0.0.1:${upstreamPort}/small`);
    await waitHttp(`http://127.0.0.1:${upstreamPort}/big`);

    // beacon: the embedded file store with the one instance, a TCP listener, no access log
    const { FileStore } = await import(join(root, 'dist', 'store', 'file.js'));
    const storeDir = join(dir, 'store');
    const store = new FileStore(storeDir);
    await store.put('/services/up/u1', `127.0.0.1:${upstreamPort}`);
    await store.close();
    const startBeacon = async (workers) => {
      const port = await freePort();
      const httpPort = await freePort();
      start(process.execPath, [CLI, 'proxy', '--store', `file://${storeDir}`, '--listen', `127.0.0.1:${httpPort}`, '--tcp', `127.0.0.1:${port}=up`, '--workers', String(workers), '--no-access-log', '--log-level', 'warn']);
      await waitHttp(`http://127.0.0.1:${port}/small`);
      return port;
    };
    const beaconPort = await startBeacon(1);
    const beacon2Port = await startBeacon(2);

    // HAProxy: mode tcp, one thread (the target's peer) and two threads, no logging
    const haproxyBin = ['/usr/sbin/haproxy', 'haproxy'].find((b) => {
      try {
        execFileSync(b, ['-v'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!haproxyBin) throw new Error('haproxy not found (Debian: apt-get install haproxy)');
    const startHaproxy = async (threads) => {
      const port = await freePort();
      const cfg = join(dir, `haproxy-${threads}.cfg`);
      writeFileSync(cfg, haproxyConfig(port, upstreamPort, threads));
      start(haproxyBin, ['-f', cfg, '-db']);
      await waitHttp(`http://127.0.0.1:${port}/small`);
      return port;
    };
    const haproxyPort = await startHaproxy(1);
    const haproxy2Port = await startHaproxy(2);

    const floorPort = await freePort();
    start(process.execPath, ['-e', FLOOR_SOURCE, String(floorPort), String(upstreamPort)]);
    await waitHttp(`http://127.0.0.1:${floorPort}/small`);

    const targets = [
      ['beacon', beaconPort],
      ['haproxy', haproxyPort],
      ['floor', floorPort],
      ['beacon-w2', beacon2Port],
      ['haproxy-t2', haproxy2Port],
    ];
    for (const [, port] of targets) wrk(`http://127.0.0.1:${port}/small`, [...WARMUP_ARGS, '-H', 'Connection: close']);
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const r = {};
      for (const [name, port] of round % 2 === 0 ? targets : [...targets].reverse()) {
        const short = wrk(`http://127.0.0.1:${port}/small`, SHORT_ARGS);
        const long = wrk(`http://127.0.0.1:${port}/big`, LONG_ARGS);
        r[name] = { short, long };
        const errs = [short, long].map((x) => `${x.errors}${x.socketErrors ? ` (${x.socketErrors})` : ''}`).join('/');
        console.log(`round ${round + 1} ${name.padEnd(10)} short ${fmt(short.rps)} conn/s   long ${fmt(long.mbps)} MB/s   errors ${errs}`);
      }
      r.connRatio = r.beacon.short.rps / r.haproxy.short.rps;
      r.mbRatio = r.beacon.long.mbps / r.haproxy.long.mbps;
      r.floorConnRatio = r.floor.short.rps / r.haproxy.short.rps;
      r.floorMbRatio = r.floor.long.mbps / r.haproxy.long.mbps;
      r.w2ConnRatio = r['beacon-w2'].short.rps / r.haproxy.short.rps;
      r.w2MbRatio = r['beacon-w2'].long.mbps / r.haproxy.long.mbps;
      r.w2t2ConnRatio = r['beacon-w2'].short.rps / r['haproxy-t2'].short.rps;
      r.w2t2MbRatio = r['beacon-w2'].long.mbps / r['haproxy-t2'].long.mbps;
      console.log(`round ${round + 1} beacon/haproxy ${fmt(r.connRatio, 2)}x conn/s, ${fmt(r.mbRatio, 2)}x MB/s; floor/haproxy ${fmt(r.floorConnRatio, 2)}x, ${fmt(r.floorMbRatio, 2)}x`);
      console.log(`round ${round + 1} beacon-w2/haproxy ${fmt(r.w2ConnRatio, 2)}x, ${fmt(r.w2MbRatio, 2)}x; beacon-w2/haproxy-t2 ${fmt(r.w2t2ConnRatio, 2)}x, ${fmt(r.w2t2MbRatio, 2)}x`);
      rounds.push(r);
    }
    const med = (f) => median(rounds.map(f));
    const result = {
      beacon: { connPerSec: med((r) => r.beacon.short.rps), mbPerSec: med((r) => r.beacon.long.mbps) },
      haproxy: { connPerSec: med((r) => r.haproxy.short.rps), mbPerSec: med((r) => r.haproxy.long.mbps) },
      floor: { connPerSec: med((r) => r.floor.short.rps), mbPerSec: med((r) => r.floor.long.mbps) },
      beaconW2: { connPerSec: med((r) => r['beacon-w2'].short.rps), mbPerSec: med((r) => r['beacon-w2'].long.mbps) },
      haproxyT2: { connPerSec: med((r) => r['haproxy-t2'].short.rps), mbPerSec: med((r) => r['haproxy-t2'].long.mbps) },
      ratio: { connPerSec: med((r) => r.connRatio), mbPerSec: med((r) => r.mbRatio) },
      floorRatio: { connPerSec: med((r) => r.floorConnRatio), mbPerSec: med((r) => r.floorMbRatio) },
      w2Ratio: { connPerSec: med((r) => r.w2ConnRatio), mbPerSec: med((r) => r.w2MbRatio) },
      w2t2Ratio: { connPerSec: med((r) => r.w2t2ConnRatio), mbPerSec: med((r) => r.w2t2MbRatio) },
    };
    console.log('');
    console.log(`wrk short: ${SHORT_ARGS.join(' ')} /small (3-byte body, a new connection per request); long: ${LONG_ARGS.join(' ')} /big (1 MiB, keep-alive)`);
    console.log(`medians of ${ROUNDS} alternating rounds after a 5 s warm-up each; upstream: one nginx worker`);
    console.log('| | connections/s (short) | MB/s (long) |');
    console.log('|---|---|---|');
    console.log(`| beacon proxy --tcp | ${fmt(result.beacon.connPerSec)} | ${fmt(result.beacon.mbPerSec)} |`);
    console.log(`| HAProxy (mode tcp, nbthread 1) | ${fmt(result.haproxy.connPerSec)} | ${fmt(result.haproxy.mbPerSec)} |`);
    console.log(`| beacon / HAProxy (median of per-round ratios) | ${fmt(result.ratio.connPerSec, 2)}x | ${fmt(result.ratio.mbPerSec, 2)}x |`);
    console.log(`| Node floor (accept, connect, pipe) | ${fmt(result.floor.connPerSec)} | ${fmt(result.floor.mbPerSec)} |`);
    console.log(`| floor / HAProxy (median of per-round ratios) | ${fmt(result.floorRatio.connPerSec, 2)}x | ${fmt(result.floorRatio.mbPerSec, 2)}x |`);
    console.log(`| beacon proxy --tcp --workers 2 | ${fmt(result.beaconW2.connPerSec)} | ${fmt(result.beaconW2.mbPerSec)} |`);
    console.log(`| HAProxy (mode tcp, nbthread 2) | ${fmt(result.haproxyT2.connPerSec)} | ${fmt(result.haproxyT2.mbPerSec)} |`);
    console.log(`| beacon --workers 2 / HAProxy nbthread 1 | ${fmt(result.w2Ratio.connPerSec, 2)}x | ${fmt(result.w2Ratio.mbPerSec, 2)}x |`);
    console.log(`| beacon --workers 2 / HAProxy nbthread 2 | ${fmt(result.w2t2Ratio.connPerSec, 2)}x | ${fmt(result.w2t2Ratio.mbPerSec, 2)}x |`);
    // the target compares one beacon process with one HAProxy thread
    const pass = result.ratio.connPerSec >= 0.8 && result.ratio.mbPerSec >= 0.8;
    console.log(`target (>= 0.8x HAProxy on both): ${pass ? 'met' : 'MISSED'}`);
    return { ...result, pass };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

// beacon proxy --tcp vs HAProxy (mode tcp, nbthread 1), same run, same upstream (one nginx
// worker), same wrk settings. `npm run bench -- tcp` (after `npm run build`). Beside them in the
// same rounds: beacon --workers 2 and HAProxy nbthread 2 (both use both cores), and a bare Node
// forwarder (what Node's sockets cost with no proxy logic).
//   short: every request a new TCP connection through the proxy (wrk with Connection: close)
//          -> connections per second
//   long:  8 keep-alive connections pulling a 1 MiB file over and over -> MB/s through the proxy
// With the short runs, each proxy's CPU time per connection (user + system, its processes and
// their children, from /proc): steadier than connections/s on a shared machine, where wrk, nginx
// and the proxies compete for the same two cores.
// Ratios are taken within a round (targets measured back to back, order alternating), and the
// median of the per-round ratios is reported: this shared 2-core machine drifts between minutes.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nginxConfig as nginxHttp } from './lib/nginx.mjs';
import { freePort, children, findProgram, stopChildren } from './lib/processes.mjs';
import { fmt, median } from './lib/report.mjs';
import { parseWrk, runWrk } from './lib/wrk.mjs';

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

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** CPU seconds (user, system) of `pid` and its children so far. */
function cpuOf(pid) {
  let user = 0;
  let system = 0;
  const pids = [pid];
  try {
    pids.push(...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    /* gone */
  }
  for (const p of pids) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      user += Number(fields[11]) / CLOCK_TICKS;
      system += Number(fields[12]) / CLOCK_TICKS;
    } catch {
      /* gone */
    }
  }
  return { user, system };
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

function wrk(url, args) {
  const { rps, requests, mbps, non2xx, socketErrors } = parseWrk(runWrk(args, url));
  return { rps, requests, mbps, errors: non2xx, socketErrors };
}

function nginxConfig(dir, port) {
  return nginxHttp(
    dir,
    `  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:${port} reuseport;
    root ${dir}/www;
    location = /small { return 200 "ok\\n"; }
  }
`,
  );
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
      const child = start(process.execPath, [CLI, 'proxy', '--store', `file://${storeDir}`, '--listen', `127.0.0.1:${httpPort}`, '--tcp', `127.0.0.1:${port}=up`, '--workers', String(workers), '--no-access-log', '--log-level', 'warn']);
      await waitHttp(`http://127.0.0.1:${port}/small`);
      return [port, child.pid];
    };
    const beacon = await startBeacon(1);
    const beacon2 = await startBeacon(2);

    // HAProxy: mode tcp, one thread (the target's peer) and two threads, no logging
    const haproxyBin = findProgram(['/usr/sbin/haproxy', 'haproxy']);
    if (!haproxyBin) throw new Error('haproxy not found (Debian: apt-get install haproxy)');
    const startHaproxy = async (threads) => {
      const port = await freePort();
      const cfg = join(dir, `haproxy-${threads}.cfg`);
      writeFileSync(cfg, haproxyConfig(port, upstreamPort, threads));
      const child = start(haproxyBin, ['-f', cfg, '-db']);
      await waitHttp(`http://127.0.0.1:${port}/small`);
      return [port, child.pid];
    };
    const haproxy = await startHaproxy(1);
    const haproxy2 = await startHaproxy(2);

    const floorPort = await freePort();
    const floorPid = start(process.execPath, ['-e', FLOOR_SOURCE, String(floorPort), String(upstreamPort)]).pid;
    await waitHttp(`http://127.0.0.1:${floorPort}/small`);

    const targets = [
      ['beacon', ...beacon],
      ['haproxy', ...haproxy],
      ['floor', floorPort, floorPid],
      ['beacon-w2', ...beacon2],
      ['haproxy-t2', ...haproxy2],
    ];
    for (const [, port] of targets) wrk(`http://127.0.0.1:${port}/small`, [...WARMUP_ARGS, '-H', 'Connection: close']);
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const r = {};
      for (const [name, port, pid] of round % 2 === 0 ? targets : [...targets].reverse()) {
        const before = cpuOf(pid);
        const short = wrk(`http://127.0.0.1:${port}/small`, SHORT_ARGS);
        const after = cpuOf(pid);
        short.userUs = ((after.user - before.user) / short.requests) * 1e6;
        short.cpuUs = ((after.user + after.system - before.user - before.system) / short.requests) * 1e6;
        const long = wrk(`http://127.0.0.1:${port}/big`, LONG_ARGS);
        r[name] = { short, long };
        const errs = [short, long].map((x) => `${x.errors}${x.socketErrors ? ` (${x.socketErrors})` : ''}`).join('/');
        console.log(`round ${round + 1} ${name.padEnd(10)} short ${fmt(short.rps)} conn/s (${fmt(short.cpuUs)} us CPU/conn, ${fmt(short.userUs)} user)   long ${fmt(long.mbps)} MB/s   errors ${errs}`);
      }
      const x = (a, b) => `${fmt(r[a].short.rps / r[b].short.rps, 2)}x conn/s, ${fmt(r[a].long.mbps / r[b].long.mbps, 2)}x MB/s, ${fmt(r[a].short.cpuUs / r[b].short.cpuUs, 2)}x CPU/conn`;
      console.log(`round ${round + 1} beacon/haproxy ${x('beacon', 'haproxy')}; floor/haproxy ${x('floor', 'haproxy')}`);
      console.log(`round ${round + 1} beacon-w2/haproxy ${x('beacon-w2', 'haproxy')}; beacon-w2/haproxy-t2 ${x('beacon-w2', 'haproxy-t2')}`);
      rounds.push(r);
    }
    const med = (f) => median(rounds.map(f));
    const NAMES = { beacon: 'beacon proxy --tcp', haproxy: 'HAProxy (mode tcp, nbthread 1)', floor: 'Node floor (accept, connect, pipe)', 'beacon-w2': 'beacon proxy --tcp --workers 2', 'haproxy-t2': 'HAProxy (mode tcp, nbthread 2)' };
    const of = (name) => ({
      connPerSec: med((r) => r[name].short.rps),
      mbPerSec: med((r) => r[name].long.mbps),
      cpuUsPerConn: med((r) => r[name].short.cpuUs),
      userUsPerConn: med((r) => r[name].short.userUs),
    });
    // medians of per-round ratios of `name` to `peer`
    const vs = (name, peer) => ({
      connPerSec: med((r) => r[name].short.rps / r[peer].short.rps),
      mbPerSec: med((r) => r[name].long.mbps / r[peer].long.mbps),
      cpuUsPerConn: med((r) => r[name].short.cpuUs / r[peer].short.cpuUs),
    });
    const result = Object.fromEntries(targets.map(([name]) => [name, of(name)]));
    result.ratio = vs('beacon', 'haproxy');
    const ratios = [
      ['beacon / HAProxy', result.ratio],
      ['floor / HAProxy', vs('floor', 'haproxy')],
      ['beacon / floor', vs('beacon', 'floor')],
      ['beacon --workers 2 / HAProxy nbthread 1', vs('beacon-w2', 'haproxy')],
      ['beacon --workers 2 / HAProxy nbthread 2', vs('beacon-w2', 'haproxy-t2')],
      ['beacon --workers 2 / beacon', vs('beacon-w2', 'beacon')],
    ];
    console.log('');
    console.log(`wrk short: ${SHORT_ARGS.join(' ')} /small (3-byte body, a new connection per request); long: ${LONG_ARGS.join(' ')} /big (1 MiB, keep-alive)`);
    console.log(`medians of ${ROUNDS} alternating rounds after a 5 s warm-up each; upstream: one nginx worker; CPU: the proxy's processes, user + system`);
    console.log('| | connections/s (short) | MB/s (long) | CPU us per connection (short; user) |');
    console.log('|---|---|---|---|');
    for (const [name] of targets) console.log(`| ${NAMES[name]} | ${fmt(result[name].connPerSec)} | ${fmt(result[name].mbPerSec)} | ${fmt(result[name].cpuUsPerConn)} (${fmt(result[name].userUsPerConn)}) |`);
    for (const [label, r] of ratios) console.log(`| ${label} (median of per-round ratios) | ${fmt(r.connPerSec, 2)}x | ${fmt(r.mbPerSec, 2)}x | ${fmt(r.cpuUsPerConn, 2)}x |`);
    // the target compares one beacon process with one HAProxy thread
    const pass = result.ratio.connPerSec >= 0.8 && result.ratio.mbPerSec >= 0.8;
    console.log(`target (>= 0.8x HAProxy on both): ${pass ? 'met' : 'MISSED'}`);
    return { ...result, pass };
  } finally {
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  }
}

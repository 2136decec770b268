// beacon proxy --tls-listen vs nginx (ssl + http2), same run, same certificate (EC P-256), same two
// upstreams, one worker each: HTTPS keep-alive with wrk, HTTP/2 with h2load, and new TLS
// handshakes per second (wrk with Connection: close). `npm run bench -- proxy-tls`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchUpstream, nginxConfig as nginxHttp, PROXY_TO_BENCH } from './lib/nginx.mjs';
import { freePort, children, stopChildren } from './lib/processes.mjs';
import { fmt, median } from './lib/report.mjs';
import { UPSTREAM_SOURCE } from './lib/upstream.mjs';
import { parseH2load, parseWrk, runWrk } from './lib/wrk.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(root, 'dist', 'cli.js');
const ROUNDS = 3;
const WRK = ['-t2', '-c50', '-d6s', '--latency'];
const WARMUP = ['-t2', '-c50', '-d10s'];
const H2LOAD = ['-c10', '-m10', '-D', '6', '-t1'];
const HOST = 'bench.test';

function start(cmd, args, readyText) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (readyText ? reject(new Error(`${cmd} not ready: ${out.slice(-2000)}`)) : resolve(child)), readyText ? 15_000 : 1500);
    const onData = (c) => {
      out += c.toString();
      if (readyText && out.includes(readyText)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out.slice(-2000)}`)));
  });
}

function wrk(port, args, extra = []) {
  // SNI 127.0.0.1 matches no name: both serve their one certificate as the default
  const { rps, p99, non2xx, socketErrors } = parseWrk(runWrk([...args, '-H', `Host: ${HOST}`, ...extra], `https://127.0.0.1:${port}/`));
  return { rps, p99, errors: non2xx + (socketErrors !== undefined ? 1 : 0) };
}

function h2load(port) {
  return parseH2load(execFileSync('h2load', [...H2LOAD, `https://127.0.0.1:${port}/`, '-H', `:authority: ${HOST}`], { encoding: 'utf8' }));
}

function nginxConfig(dir, port, upstreams, cert, key) {
  return nginxHttp(
    dir,
    `  keepalive_timeout 60s;
  keepalive_requests 100000;
${benchUpstream(upstreams)}  server {
    listen 127.0.0.1:${port} ssl http2;
    server_name ${HOST};
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
${PROXY_TO_BENCH}  }
`,
  );
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-bench-tls-'));
  try {
    const cert = join(dir, 'site.crt');
    const key = join(dir, 'site.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const certDir = join(dir, 'certs');
    mkdirSync(certDir);
    execFileSync('cp', [cert, join(certDir, 'site.crt')]);
    execFileSync('cp', [key, join(certDir, 'site.key')]);
    const upstreamPorts = [await freePort(), await freePort()];
    for (const [i, port] of upstreamPorts.entries()) await start(process.execPath, ['-e', UPSTREAM_SOURCE, String(port), `u${i}`], 'listening');
    const { FileStore } = await import(join(root, 'dist', 'store', 'file.js'));
    const storeDir = join(dir, 'store');
    const store = new FileStore(storeDir);
    for (const [i, port] of upstreamPorts.entries()) await store.put(`/services/bench/u${i}`, `127.0.0.1:${port}`);
    await store.close();
    const targets = [];
    for (const engine of ['fast', 'portable']) {
      const port = await freePort();
      const child = await start(process.execPath, [CLI, 'proxy', '--engine', engine, '--store', `file://${storeDir}`, '--listen', `127.0.0.1:${await freePort()}`, '--tls-listen', `127.0.0.1:${port}`, '--tls-cert-dir', certDir, '--tls-default-cert', 'site', '--default-service', 'bench', '--no-access-log', '--log-level', 'info'], 'proxy TLS listening');
      targets.push([engine, port, child]);
    }
    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir);
    const nginxPort = await freePort();
    writeFileSync(join(nginxDir, 'nginx.conf'), nginxConfig(nginxDir, nginxPort, upstreamPorts, cert, key));
    await start('/usr/sbin/nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')]);
    targets.splice(1, 0, ['nginx', nginxPort]);
    for (const [, port] of targets) wrk(port, WARMUP);
    const results = Object.fromEntries(targets.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, port] of round % 2 === 0 ? targets : [...targets].reverse()) {
        const keepAlive = wrk(port, WRK);
        const h2 = h2load(port);
        const handshakes = wrk(port, ['-t2', '-c20', '-d4s'], ['-H', 'Connection: close']);
        results[name].push({ keepAlive, h2, handshakes });
        console.log(`round ${round + 1} ${name.padEnd(8)} https ${fmt(keepAlive.rps)} req/s p99 ${fmt(keepAlive.p99, 2)} ms err ${keepAlive.errors} | h2 (${h2.proto}) ${fmt(h2.rps)} req/s mean ${fmt(h2.mean, 2)} ms failed ${h2.failed} | new handshakes ${fmt(handshakes.rps)}/s`);
      }
    }
    const ratio = (name, pick) => median(results[name].map((r, i) => pick(r) / pick(results.nginx[i])));
    console.log('');
    console.log(`wrk ${WRK.join(' ')} over HTTPS keep-alive; h2load ${H2LOAD.join(' ')}; handshakes: wrk -t2 -c20 -d4s with Connection: close; median of ${ROUNDS} alternating rounds after a 10 s warm-up; EC P-256, TLS 1.3, no session resumption; one worker each`);
    console.log('| | HTTPS req/s | HTTPS p99 ms | HTTPS req/s vs nginx | p99 vs nginx | h2 req/s | h2 vs nginx | handshakes/s | handshakes vs nginx |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    const rows = {};
    for (const [name] of targets) {
      const list = results[name];
      const row = {
        rps: median(list.map((r) => r.keepAlive.rps)),
        p99: median(list.map((r) => r.keepAlive.p99)),
        rpsRatio: ratio(name, (r) => r.keepAlive.rps),
        p99Ratio: ratio(name, (r) => r.keepAlive.p99),
        h2: median(list.map((r) => r.h2.rps)),
        h2Ratio: ratio(name, (r) => r.h2.rps),
        hs: median(list.map((r) => r.handshakes.rps)),
        hsRatio: ratio(name, (r) => r.handshakes.rps),
      };
      rows[name] = row;
      console.log(`| ${name === 'nginx' ? 'nginx (ssl http2)' : `beacon --engine ${name}`} | ${fmt(row.rps)} | ${fmt(row.p99, 2)} | ${fmt(row.rpsRatio, 2)}x | ${fmt(row.p99Ratio, 2)}x | ${fmt(row.h2)} | ${fmt(row.h2Ratio, 2)}x | ${fmt(row.hs)} | ${fmt(row.hsRatio, 2)}x |`);
    }
    console.log(`target (HTTPS keep-alive req/s >= 0.7x nginx, fast engine): ${rows.fast.rpsRatio >= 0.7 ? 'met' : 'MISSED'}`);
    return { rows };
  } finally {
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  }
}

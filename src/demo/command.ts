import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModeContext, ModeDefinition, RunningMode } from '../mode.js';
import type { StoreConfig } from '../config/common.js';
import { parseHostPort, type HostPort } from '../config/address.js';
import { UsageError } from '../errors.js';
import { isDnsLabel } from '../catalog/names.js';
import { startDemoApp } from './app.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

interface DemoConfig extends StoreConfig {
  apps: number;
  service: string;
  domain: string;
  dnsListen: string;
  proxyListen: string;
}

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

async function portFree(where: HostPort, udp: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    if (udp) {
      const socket = createSocket(where.host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', () => resolve(false));
      socket.bind(where.port, where.host, () => socket.close(() => resolve(true)));
    } else {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(where.port, where.host, () => server.close(() => resolve(true)));
    }
  });
}

async function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * `beacon demo`: the whole system on one machine, as real processes: demo apps, an announce
 * sidecar for each, dns and proxy, all on the embedded file store unless BEACON_STORE says etcd.
 */
class Demo implements RunningMode {
  private readonly children: Child[] = [];
  private storeDir: string | undefined;
  private stopping = false;
  private readonly out: (line: string) => void;

  constructor(
    private readonly config: DemoConfig,
    private readonly ctx: ModeContext,
    private readonly dns: HostPort,
    private readonly proxy: HostPort,
  ) {
    this.out = (line) => void ctx.stdout.write(`${line}\n`);
  }

  private storeUrl(): string {
    if (this.ctx.env.BEACON_STORE || this.config.store !== 'etcd://127.0.0.1:2379') return this.config.store;
    this.storeDir = mkdtempSync(join(tmpdir(), 'beacon-demo-'));
    return `file://${this.storeDir}`;
  }

  private spawnChild(name: string, args: string[], env: Record<string, string> = {}): Child {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      // The password travels in the environment, never on a command line `ps` shows.
      env: { ...this.ctx.env, ...env, BEACON_ADMIN: '', ...(this.config.etcdPassword ? { BEACON_ETCD_PASSWORD: this.config.etcdPassword } : {}) } as NodeJS.ProcessEnv,
    });
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) {
          this.ctx.log.warn({ child: name, pid: child.pid, code, signal, stderr: tail.split('\n').slice(-3).join('\n') }, 'demo process exited');
        }
        resolve();
      });
    });
    const entry = { name, process: child, exited };
    this.children.push(entry);
    return entry;
  }

  async start(): Promise<void> {
    for (const [what, where, udp, flag] of [
      ['DNS (udp)', this.dns, true, '--dns-listen'],
      ['DNS (tcp)', this.dns, false, '--dns-listen'],
      ['proxy', this.proxy, false, '--proxy-listen'],
    ] as const) {
      if (!(await portFree(where, udp))) {
        throw new UsageError(flag, `${what} address ${where.host}:${where.port} is taken; pick another, e.g. ${flag} ${where.host}:${where.port + 1}`);
      }
    }
    const store = this.storeUrl();
    const c = this.config;
    // Every child talks to the same store the same way (TLS, auth, prefixes).
    const common = [
      '--store', store, '--log-level', 'warn',
      '--services-prefix', c.servicesPrefix, '--skydns-prefix', c.skydnsPrefix,
      ...(c.etcdCa ? ['--etcd-ca', c.etcdCa] : []),
      ...(c.etcdCert ? ['--etcd-cert', c.etcdCert] : []),
      ...(c.etcdKey ? ['--etcd-key', c.etcdKey] : []),
      ...(c.etcdUser ? ['--etcd-user', c.etcdUser] : []),
    ];
    this.out(`beacon demo: store ${store}`);

    const apps: { name: string; port: number; pid: number }[] = [];
    for (let i = 1; i <= this.config.apps; i++) {
      const name = `${this.config.service}${i}`;
      const port = await ephemeralPort();
      const app = this.spawnChild(name, [CLI, 'demo-app', name, String(port)]);
      apps.push({ name, port, pid: app.process.pid! });
      this.spawnChild(`${name}-announce`, [
        CLI, 'announce', ...common, '--service', this.config.service, '--id', name, '--host', '127.0.0.1', '--port', String(port),
        '--check', `http://127.0.0.1:${port}/health`, '--interval', '500ms', '--timeout', '400ms', '--ttl', '5s', '--domain', this.config.domain,
      ]);
      this.out(`  started app ${name} on 127.0.0.1:${port} (pid ${app.process.pid}) with an announce sidecar`);
    }
    const dnsAddr = `${this.dns.host}:${this.dns.port}`;
    const proxyAddr = `${this.proxy.host}:${this.proxy.port}`;
    this.spawnChild('dns', [CLI, 'dns', ...common, '--listen', dnsAddr, '--domain', this.config.domain]);
    this.out(`  started beacon dns on ${dnsAddr} (udp+tcp)`);
    this.spawnChild('proxy', [CLI, 'proxy', ...common, '--listen', proxyAddr, '--domain', this.config.domain, '--default-service', this.config.service]);
    this.out(`  started beacon proxy on ${proxyAddr}`);

    this.out('  waiting for the apps to pass their checks and register...');
    await this.waitUntilServing(apps.length);
    const curlHost = this.proxy.host === '0.0.0.0' ? '127.0.0.1' : this.proxy.host;
    const digHost = this.dns.host === '0.0.0.0' ? '127.0.0.1' : this.dns.host;
    this.out('');
    this.out(`demo ready: ${apps.length} instances of "${this.config.service}" behind the proxy and in DNS. Try:`);
    this.out(`  for i in 1 2 3 4; do curl -s http://${curlHost}:${this.proxy.port}/; done       # round robin`);
    this.out(`  dig @${digHost} -p ${this.dns.port} ${this.config.service}.${this.config.domain} A +short     # every instance`);
    this.out(`  dig @${digHost} -p ${this.dns.port} ${this.config.service}.${this.config.domain} SRV +short`);
    // The Node running the demo, not whatever `node` the user's shell finds first (a system Node
    // may be too old: `npm start` runs the project's pinned one from node_modules/.bin).
    const servicesArgs = [
      '--store', store,
      ...(c.servicesPrefix !== '/services' ? ['--services-prefix', c.servicesPrefix] : []),
      ...common.slice(common.indexOf('--skydns-prefix') + 2),
      '--watch',
    ];
    this.out(`  ${[process.execPath, CLI, 'services', ...servicesArgs].map(shellWord).join(' ')}      # the registry, live`);
    this.out(`  kill ${apps[0]!.pid}     # stop ${apps[0]!.name}: it leaves the proxy and DNS within seconds`);
    this.out('Ctrl-C stops everything.');
    this.ctx.log.info({ apps: apps.length, dns: dnsAddr, proxy: proxyAddr }, 'demo ready');
  }

  /** Ready when the proxy has answered from every app at least once. */
  private async waitUntilServing(apps: number): Promise<void> {
    const seen = new Set<string>();
    const deadline = Date.now() + 30_000;
    const host = this.proxy.host === '0.0.0.0' ? '127.0.0.1' : this.proxy.host;
    while (seen.size < apps) {
      if (this.stopping) return;
      if (Date.now() > deadline) throw new Error(`demo did not come up within 30s (saw ${seen.size}/${apps} apps through the proxy)`);
      try {
        const res = await fetch(`http://${host}:${this.proxy.port}/`, { signal: AbortSignal.timeout(1000) });
        const app = res.headers.get('x-demo-app');
        await res.arrayBuffer();
        if (app) seen.add(app);
      } catch {
        /* not up yet */
      }
      if (seen.size < apps) await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Sidecars first (they deregister), then the rest.
    const order = [...this.children].sort((a, b) => Number(b.name.endsWith('-announce')) - Number(a.name.endsWith('-announce')));
    for (const child of order.filter((c) => c.name.endsWith('-announce'))) child.process.kill('SIGTERM');
    await Promise.all(order.filter((c) => c.name.endsWith('-announce')).map((c) => c.exited));
    for (const child of order) child.process.kill('SIGTERM');
    const all = Promise.all(order.map((c) => c.exited));
    const timer = setTimeout(() => order.forEach((c) => c.process.kill('SIGKILL')), 10_000);
    await all;
    clearTimeout(timer);
    if (this.storeDir) rmSync(this.storeDir, { recursive: true, force: true });
    this.out('demo stopped');
  }

  ready(): boolean {
    return true;
  }

  status(): unknown {
    return { mode: 'demo', children: this.children.map((c) => ({ name: c.name, pid: c.process.pid, running: c.process.exitCode === null })) };
  }
}

export const definition: ModeDefinition = {
  name: 'demo',
  usage: 'beacon demo [--apps 3] [--dns-listen 127.0.0.1:5353] [--proxy-listen 127.0.0.1:8080]',
  summary: 'run the whole system on this machine: demo apps with announce sidecars, dns and proxy (no etcd needed)',
  daemon: true,
  flags: [
    { name: 'apps', type: 'int', default: 3, min: 1, max: 20, help: 'how many demo app instances to start' },
    { name: 'service', type: 'string', placeholder: 'NAME', default: 'web', help: 'service name the demo apps announce' },
    { name: 'domain', type: 'string', placeholder: 'DOMAIN', default: 'skydns.local', help: 'DNS domain' },
    { name: 'dns-listen', type: 'addr', placeholder: 'ADDR', default: '127.0.0.1:5353', help: 'address of the demo DNS server' },
    { name: 'proxy-listen', type: 'addr', placeholder: 'ADDR', default: '127.0.0.1:8080', help: 'address of the demo proxy' },
  ],
  async create(ctx) {
    const config = ctx.flags as unknown as DemoConfig;
    if (!isDnsLabel(config.service) || !isDnsLabel(`${config.service}${config.apps}`)) {
      throw new UsageError('--service', `must be a short DNS label (a-z, 0-9, '-'), got ${JSON.stringify(config.service)}`);
    }
    return new Demo(config, ctx, parseHostPort(config.dnsListen, '127.0.0.1')!, parseHostPort(config.proxyListen, '127.0.0.1')!);
  },
};

/** `word` as one shell word: as it is when nothing in it is special, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_\/.:,=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `beacon demo-app NAME PORT`: internal, started by the demo. */
export async function runDemoApp(argv: readonly string[]): Promise<number> {
  const [name, port] = argv;
  if (!name || !port || !/^\d+$/.test(port)) {
    process.stderr.write('usage: beacon demo-app NAME PORT\n');
    return 2;
  }
  await startDemoApp(name, Number(port));
  return new Promise(() => undefined);
}

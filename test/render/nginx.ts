// A real nginx for render tests: own prefix dir, loopback port, pid file; upstream HTTP servers
// that answer with their name.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../harness/ports.ts';
import { spawnTracked, type Tracked } from '../harness/procs.ts';
import { waitFor } from '../harness/wait.ts';

/** nginx -t of a config, for assertions */
export const run = promisify(execFile);

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export class Nginx {
  readonly root: string;
  readonly port: number;
  private proc: Tracked | undefined;

  private constructor(root: string, port: number) {
    this.root = root;
    this.port = port;
  }

  /** Writes nginx.conf (includes conf.d/*.conf, proxies / to `upstream`); does not start. */
  static async create(upstream = 'app'): Promise<Nginx> {
    const root = mkdtempSync(join(tmpdir(), 'beacon-nginx-'));
    const port = await freePort();
    for (const d of ['conf.d', 'tmp']) mkdirSync(join(root, d));
    const user = process.getuid?.() === 0 ? 'user root;\n' : '';
    writeFileSync(
      join(root, 'nginx.conf'),
      `${user}worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log notice;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp/body;
  proxy_temp_path ${root}/tmp/proxy;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
  include ${root}/conf.d/*.conf;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${upstream};
      proxy_next_upstream off;
      proxy_connect_timeout 2s;
    }
  }
}
`,
    );
    return new Nginx(root, port);
  }

  get conf(): string {
    return join(this.root, 'nginx.conf');
  }
  /** `nginx -t` of the whole configuration */
  get checkCmd(): string {
    return `nginx -t -q -p ${this.root} -c ${this.conf}`;
  }
  get reloadCmd(): string {
    return `nginx -s reload -p ${this.root} -c ${this.conf}`;
  }
  /** a reload command that also appends a line to `reloads` (to count reloads) */
  countingReloadCmd(): string {
    const script = join(this.root, 'reload.sh');
    writeFileSync(script, `#!/bin/sh\necho reload >> ${this.root}/reloads\nexec ${this.reloadCmd}\n`, { mode: 0o755 });
    return script;
  }

  /** reloads requested through countingReloadCmd() so far */
  reloads(): number {
    const f = join(this.root, 'reloads');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /**
   * Waits until nginx has taken every requested reload and the workers of older configurations
   * have exited (from the notice-level error log), so requests only see the newest configuration.
   */
  async settled(timeoutMs = 10_000): Promise<void> {
    await waitFor('nginx settled on the newest configuration', () => {
      const log = readFileSync(join(this.root, 'error.log'), 'utf8');
      const count = (re: RegExp): number => (log.match(re) ?? []).length;
      const hups = count(/signal 1 \(SIGHUP\) received/g);
      const live = count(/start worker process \d+/g) - count(/worker process \d+ exited/g);
      return hups >= this.reloads() && live === 1;
    }, timeoutMs, 50);
  }

  /** waits for more than `before` reloads, then for nginx to settle */
  async reloadedAfter(before: number): Promise<void> {
    await waitFor(`reload #${before + 1}`, () => this.reloads() > before, 10_000);
    await this.settled();
  }

  /** runs nginx -t on the live configuration; throws when it fails */
  async check(): Promise<void> {
    await run('sh', ['-c', this.checkCmd]);
  }

  async start(): Promise<void> {
    this.proc = spawnTracked('nginx', ['-p', this.root, '-c', this.conf, '-g', 'daemon off;']);
    await waitFor('nginx listening', async () => {
      if (this.proc!.child.exitCode !== null) throw new Error(`nginx exited: ${this.proc!.output()}`);
      return await tcpOpen(this.port);
    }, 10_000, 100);
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGQUIT', 5000);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** GET / on 127.0.0.1:port without keep-alive; resolves with status and body. */
export function httpGet(port: number, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Bodies of `n` sequential requests through nginx. */
export async function collect(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await httpGet(port)).body);
  return out;
}

export interface Upstream {
  name: string;
  port: number;
  hits: number;
  server: Server;
}

/** An HTTP server on a free loopback port answering its name. */
export async function startUpstream(name: string): Promise<Upstream> {
  const port = await freePort();
  const up: Upstream = { name, port, hits: 0, server: createServer() };
  up.server.on('request', (_req, res) => {
    up.hits++;
    res.setHeader('connection', 'close');
    res.end(name);
  });
  await new Promise<void>((resolve) => up.server.listen(port, '127.0.0.1', resolve));
  return up;
}

export function stopUpstream(up: Upstream): Promise<void> {
  return new Promise((resolve) => {
    up.server.closeAllConnections();
    up.server.close(() => resolve());
  });
}

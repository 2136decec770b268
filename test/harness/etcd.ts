import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { spawnTracked, type Tracked } from './procs.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  process?: Tracked;
}

export interface EtcdOptions {
  members?: number;
  /** extra flags for every member (TLS, auth...) */
  extraArgs?: string[];
  /** the scheme clients use (https with TLS) */
  clientScheme?: 'http' | 'https';
  /** extra etcdctl flags (certificates, --user) */
  etcdctlArgs?: string[];
}

/** A real etcd (one member or a cluster) on loopback ports with its own temp data dirs. */
export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), 'beacon-etcd-'));

  private readonly options: EtcdOptions;

  private constructor(options: EtcdOptions) {
    this.options = options;
  }

  static async start(options: EtcdOptions = {}): Promise<EtcdCluster> {
    const cluster = new EtcdCluster(options);
    const count = options.members ?? 1;
    for (let i = 0; i < count; i++) {
      cluster.members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort() });
    }
    await Promise.all(cluster.members.map((m) => cluster.startMember(m)));
    await cluster.waitHealthy();
    return cluster;
  }

  /** `127.0.0.1:p1,127.0.0.1:p2` */
  get endpoints(): string {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  }

  /** `etcd://...` for --store */
  get url(): string {
    return `etcd://${this.endpoints}`;
  }

  private scheme(): string {
    return this.options.clientScheme ?? 'http';
  }

  async startMember(m: EtcdMember): Promise<void> {
    const initialCluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    m.process = spawnTracked('etcd', [
      '--name', m.name,
      '--data-dir', join(this.root, m.name),
      '--listen-client-urls', `${this.scheme()}://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `${this.scheme()}://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `beacon-test-${process.pid}`,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-level', 'error',
      ...(this.options.extraArgs ?? []),
    ]);
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor('etcd healthy', async () => {
      await this.etcdctl('endpoint', 'health', '--cluster=false');
      return true;
    }, timeoutMs, 100);
  }

  async etcdctl(...args: string[]): Promise<string> {
    const endpoints = this.members.filter((m) => m.process && m.process.child.exitCode === null && m.process.child.signalCode === null)
      .map((m) => `${this.scheme()}://127.0.0.1:${m.clientPort}`);
    const { stdout } = await run('etcdctl', [`--endpoints=${endpoints.join(',')}`, '--command-timeout=3s', ...(this.options.etcdctlArgs ?? []), ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 10_000,
    });
    return stdout;
  }

  async put(key: string, value: string): Promise<void> {
    await this.etcdctl('put', key, value);
  }

  async del(key: string, prefix = false): Promise<void> {
    await this.etcdctl('del', key, ...(prefix ? ['--prefix'] : []));
  }

  /** the value of `key`, or undefined */
  async get(key: string): Promise<string | undefined> {
    const out = await this.etcdctl('get', key, '--print-value-only');
    return out === '' ? undefined : out.replace(/\n$/, '');
  }

  /** key -> value under a prefix */
  async getPrefix(prefix: string): Promise<Map<string, string>> {
    const out = await this.etcdctl('get', prefix, '--prefix', '-w', 'json');
    const json = JSON.parse(out) as { kvs?: { key: string; value: string; lease?: number }[] };
    return new Map((json.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]));
  }

  /** the lease (decimal id) a key is attached to, or undefined */
  async leaseOf(key: string): Promise<string | undefined> {
    const out = await this.etcdctl('get', key, '-w', 'json');
    // Lease ids are 64-bit: read the digits before JSON.parse rounds them.
    const lease = /"lease":(\d+)/.exec(out)?.[1];
    return lease && lease !== '0' ? lease : undefined;
  }

  /** `{ granted, remaining }` in seconds for a lease id */
  async leaseTtl(id: string): Promise<{ granted: number; remaining: number }> {
    const out = await this.etcdctl('lease', 'timetolive', BigInt(id).toString(16), '-w', 'json');
    const json = JSON.parse(out) as { ttl: number; 'granted-ttl': number };
    return { granted: json['granted-ttl'], remaining: json.ttl };
  }

  /** the member that is raft leader now */
  async leader(): Promise<EtcdMember> {
    const raw = await this.etcdctl('endpoint', 'status', '-w', 'json');
    const status = JSON.parse(raw) as { Endpoint: string }[];
    // Ids are 64-bit: compare the raw digits, not JSON numbers.
    const leaders = [...raw.matchAll(/"leader":(\d+)/g)].map((m) => m[1]);
    const members = [...raw.matchAll(/"member_id":(\d+)/g)].map((m) => m[1]);
    const index = members.findIndex((id) => id === leaders[0]);
    const endpoint = status[index]?.Endpoint ?? '';
    const member = this.members.find((m) => endpoint.endsWith(`:${m.clientPort}`));
    if (!member) throw new Error(`no leader among ${raw}`);
    return member;
  }

  async compact(): Promise<void> {
    const status = JSON.parse(await this.etcdctl('endpoint', 'status', '-w', 'json')) as { Status: { header: { revision: number } } }[];
    await this.etcdctl('compact', String(status[0]!.Status.header.revision));
  }

  async stopMember(m: EtcdMember, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await m.process?.stop(signal);
  }

  /** `wipe`: come back with an empty data dir, as after losing the disk (single-member clusters) */
  async restartMember(m: EtcdMember, options: { wipe?: boolean } = {}): Promise<void> {
    await this.stopMember(m);
    if (options.wipe) rmSync(join(this.root, m.name), { recursive: true, force: true });
    await this.startMember(m);
    await waitFor(`etcd member ${m.name} back`, async () => {
      await run('etcdctl', [`--endpoints=${this.scheme()}://127.0.0.1:${m.clientPort}`, '--command-timeout=2s', ...(this.options.etcdctlArgs ?? []), 'endpoint', 'health'], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return true;
    }, 20_000, 100);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.process?.stop('SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * The I/O shell of the dns mode: UDP and TCP sockets on one address, the index kept current from
 * the catalog, an answer cache, forwarding, metrics. Every decision is answerFor's.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIP, createServer, type Server, type Socket } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RunningMode } from '../cli/mode.js';
import { Catalog } from '../catalog/catalog.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { answerFor, externalKey, type AnswerContext, type Outcome } from './answer.js';
import { Forwarder, type Transport } from './forward.js';
import { LeaseClock } from './leases.js';
import { SkyIndex } from './records.js';
import { resolveSettings, resolvConfNameservers, type DnsSettings, type ExplicitSettings, type Nameserver } from './settings.js';
import { CLASS, encodeResponse, parseQuery, RCODE, rcodeName, TYPE, typeName, type Query, type RR } from './wire.js';

export interface DnsServerOptions {
  listen: { host: string; port: number };
  explicit: ExplicitSettings;
  prefix: string;
  store: Store;
  log: Logger;
  metrics: Registry;
  resolvConf?: string;
  /** how long start() waits for the first store sync before serving anyway */
  syncWaitMs?: number;
}

/** our advertised EDNS payload size, and the largest UDP answer we send */
const MAX_UDP = 4096;
const CACHE_MS = 1000;
const CACHE_MAX = 20_000;
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 1000;
/** bounds one query's work: external look-ups included */
const QUERY_BUDGET_MS = 8000;

interface CacheEntry {
  readonly gen: number;
  readonly expires: number;
  readonly rcode: number;
  /** encoded rotations of the answer (A/AAAA round robin) */
  readonly variants: Buffer[];
  next: number;
}

type Reply = Buffer<ArrayBufferLike>;

const KNOWN_TYPES = new Set<number>([TYPE.A, TYPE.AAAA, TYPE.CNAME, TYPE.SRV, TYPE.TXT, TYPE.MX, TYPE.NS, TYPE.SOA, TYPE.PTR, TYPE.ANY]);

function dnsMetrics(registry: Registry) {
  return {
    queries: new Counter({ name: 'beacon_dns_queries_total', help: 'queries answered, by query type and response code', labelNames: ['type', 'rcode'], registers: [registry] }),
    forwarded: new Counter({ name: 'beacon_dns_forwarded_total', help: 'attempts to forward to a nameserver, by outcome', labelNames: ['outcome'], registers: [registry] }),
    malformed: new Counter({ name: 'beacon_dns_malformed_total', help: 'packets that could not be parsed as a query', registers: [registry] }),
    truncated: new Counter({ name: 'beacon_dns_truncated_total', help: 'UDP answers sent with TC set', registers: [registry] }),
    cacheHits: new Counter({ name: 'beacon_dns_cache_hits_total', help: 'in-zone answers served from the answer cache', registers: [registry] }),
    indexRecords: new Gauge({ name: 'beacon_dns_index_records', help: 'SkyDNS records in the in-memory index', registers: [registry] }),
    cacheEntries: new Gauge({ name: 'beacon_dns_cache_entries', help: 'encoded answers in the answer cache', registers: [registry] }),
    latency: new Histogram({
      name: 'beacon_dns_request_duration_seconds',
      help: 'time from receiving a query to sending the answer',
      labelNames: ['transport'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

/** rotate the A/AAAA records among their own positions by `k` */
function rotateAddresses(answer: readonly RR[], k: number): RR[] {
  const positions: number[] = [];
  for (let i = 0; i < answer.length; i++) if (answer[i]!.type === TYPE.A || answer[i]!.type === TYPE.AAAA) positions.push(i);
  const out = [...answer];
  if (positions.length < 2) return out;
  for (let j = 0; j < positions.length; j++) out[positions[j]!] = answer[positions[(j + k) % positions.length]!]!;
  return out;
}

export class DnsServer implements RunningMode {
  private readonly log: Logger;
  private readonly catalog: Catalog;
  private readonly leases: LeaseClock;
  private readonly forwarder: Forwarder;
  private readonly metrics: ReturnType<typeof dnsMetrics>;
  private readonly resolvConf: Nameserver[];
  private index: SkyIndex = new SkyIndex([]);
  private settings: DnsSettings;
  private gen = 0;
  private cache = new Map<string, CacheEntry>();
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  private bound: { address: string; port: number } | undefined;
  private readonly queryCounters = new Map<number, ReturnType<Counter<'type' | 'rcode'>['labels']>>();
  private readonly latencyUdp: ReturnType<Histogram<'transport'>['labels']>;
  private readonly latencyTcp: ReturnType<Histogram<'transport'>['labels']>;
  private inflight = 0;
  private stopping = false;
  private synced = false;
  private queriesTotal = 0;
  private readonly started = Date.now();

  constructor(private readonly options: DnsServerOptions) {
    this.log = options.log;
    this.metrics = dnsMetrics(options.metrics);
    this.latencyUdp = this.metrics.latency.labels('udp');
    this.latencyTcp = this.metrics.latency.labels('tcp');
    this.metrics.cacheEntries.reset();
    this.resolvConf = resolvConfNameservers(options.resolvConf);
    this.settings = this.resolve(undefined);
    this.catalog = new Catalog({ store: options.store, log: options.log, skydns: { prefix: options.prefix } });
    this.leases = new LeaseClock(options.store, options.log);
    this.forwarder = new Forwarder({
      nameservers: () => this.settings.nameservers,
      timeoutMs: () => this.settings.forwardTimeoutMs,
      onAttempt: (_ns, outcome) => this.metrics.forwarded.inc({ outcome }),
    });
    this.catalog.on('change', (change) => {
      if (change.skydns) this.rebuild();
    });
    this.catalog.on('ready', (ready) => this.log.info({ ready }, ready ? 'dns store synced' : 'dns store lost; answering from the last known records'));
  }

  private resolve(skyConfig: unknown): DnsSettings {
    const { settings, ignored } = resolveSettings(this.options.explicit, skyConfig, this.resolvConf);
    if (ignored.length > 0) this.log.warn({ ignored }, 'ignoring invalid /skydns/config fields');
    // never forward to ourselves (resolv.conf pointing at this very server)
    const self = this.bound;
    const nameservers = settings.nameservers.filter((ns) => !(self && ns.port === self.port && (ns.host === self.address || ((self.address === '0.0.0.0' || self.address === '::') && /^(127\.|::1$)/.test(ns.host)))));
    return { ...settings, nameservers };
  }

  /** the catalog changed: rebuild the index and settings, drop cached answers */
  private rebuild(): void {
    const before = this.settings;
    this.index = new SkyIndex(this.catalog.skydnsEntries().values(), this.options.prefix);
    this.settings = this.resolve(this.catalog.skydnsConfig());
    this.gen++;
    this.cache.clear();
    this.metrics.indexRecords.set(this.index.size);
    void this.leases.track(this.index.leases).then(() => {
      // fresh lease expiries change TTLs: answers cached meanwhile are stale
      this.gen++;
      this.cache.clear();
    });
    if (JSON.stringify(before) !== JSON.stringify(this.settings)) this.log.info({ settings: this.settings }, 'dns settings');
    if (!this.synced) {
      this.synced = true;
      this.log.info({ records: this.index.size, revision: this.catalog.revision }, 'dns index ready');
    }
  }

  async start(): Promise<void> {
    const { host, port } = this.options.listen;
    const family = isIP(host) === 6 ? 'udp6' : 'udp4';
    const udp = createSocket({ type: family, reuseAddr: false });
    this.udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (err) => this.log.error({ err: err.message }, 'udp socket error'));
    udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    const bound = udp.address();
    this.bound = { address: bound.address, port: bound.port };
    const tcp = createServer({ noDelay: true }, (socket) => this.onTcp(socket));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: bound.port, host, exclusive: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (err) => this.log.error({ err: err.message }, 'tcp server error'));
    this.settings = this.resolve(this.catalog.skydnsConfig());
    this.log.info({ address: bound.address, port: bound.port, domain: this.settings.domain, forward: this.settings.nameservers.map((n) => `${n.host}:${n.port}`) }, 'dns listening');
    this.leases.start();
    const sync = this.catalog.start();
    await Promise.race([sync, new Promise((r) => setTimeout(r, this.options.syncWaitMs ?? 5000).unref())]);
    if (!this.synced) this.log.warn({ store: this.options.store.description }, 'store not synced yet; in-zone queries get SERVFAIL until it is');
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.leases.stop();
    await this.catalog.stop().catch(() => undefined);
    const udp = this.udp;
    const tcp = this.tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    // in-flight forwarded queries get up to 2 s to finish
    const deadline = Date.now() + 2000;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.connections) socket.destroy();
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  ready(): boolean {
    return this.catalog.ready;
  }

  status(): unknown {
    return {
      listen: this.bound ?? this.options.listen,
      ready: this.catalog.ready,
      revision: this.catalog.revision,
      records: this.index.size,
      leases: this.leases.size,
      malformedValues: this.catalog.malformed,
      cacheEntries: this.cache.size,
      queries: this.queriesTotal,
      inflight: this.inflight,
      tcpConnections: this.connections.size,
      settings: {
        domain: this.settings.domain,
        ttl: this.settings.ttl,
        minTtl: this.settings.minTtl,
        noRecursion: this.settings.noRecursion,
        forward: this.settings.nameservers.map((n) => `${n.host}:${n.port}`),
        forwardTimeoutMs: this.settings.forwardTimeoutMs,
      },
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
    };
  }

  // -------------------------------------------------------------------------------------------
  // transports

  private onUdp(msg: Buffer, rinfo: RemoteInfo): void {
    const t0 = performance.now();
    let result: Reply | Promise<Reply | undefined> | undefined;
    try {
      result = this.handle(msg, 'udp');
    } catch (err) {
      this.log.error({ err: describeCause(err) }, 'error answering a query');
      result = this.errorReply(msg, RCODE.SERVFAIL);
    }
    if (result === undefined) return;
    if (!(result instanceof Promise)) {
      this.udp!.send(result, rinfo.port, rinfo.address);
      this.latencyUdp.observe((performance.now() - t0) / 1000);
      return;
    }
    this.inflight++;
    result.then(
      (reply) => {
        this.inflight--;
        if (reply && !this.stopping) this.udp!.send(reply, rinfo.port, rinfo.address);
        this.latencyUdp.observe((performance.now() - t0) / 1000);
      },
      (err: unknown) => {
        this.inflight--;
        this.log.error({ err: describeCause(err) }, 'error answering a query');
      },
    );
  }

  private onTcp(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let data: Reply = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    const send = (reply: Reply): void => {
      if (socket.destroyed) return;
      const prefix = Buffer.allocUnsafe(2);
      prefix.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([prefix, reply]));
    };
    socket.on('data', (chunk: Buffer) => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      while (data.length >= 2) {
        const len = data.readUInt16BE(0);
        if (len < 12) {
          socket.destroy();
          return;
        }
        if (data.length < 2 + len) return;
        const msg = data.subarray(2, 2 + len);
        data = data.subarray(2 + len);
        const t0 = performance.now();
        let result: Reply | Promise<Reply | undefined> | undefined;
        try {
          result = this.handle(Buffer.from(msg), 'tcp');
        } catch (err) {
          this.log.error({ err: describeCause(err) }, 'error answering a query');
          result = this.errorReply(msg, RCODE.SERVFAIL);
        }
        if (result === undefined) continue;
        if (!(result instanceof Promise)) {
          send(result);
          this.latencyTcp.observe((performance.now() - t0) / 1000);
          continue;
        }
        this.inflight++;
        result.then(
          (reply) => {
            this.inflight--;
            if (reply) send(reply);
            this.latencyTcp.observe((performance.now() - t0) / 1000);
          },
          (err: unknown) => {
            this.inflight--;
            this.log.error({ err: describeCause(err) }, 'error answering a query');
          },
        );
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // one query

  private count(qtype: number, rcode: number): void {
    this.queriesTotal++;
    const key = (KNOWN_TYPES.has(qtype) ? qtype : 0) * 64 + (rcode & 0x3f);
    let c = this.queryCounters.get(key);
    if (!c) {
      c = this.metrics.queries.labels(KNOWN_TYPES.has(qtype) ? typeName(qtype) : 'other', rcodeName(rcode));
      this.queryCounters.set(key, c);
    }
    c.inc();
  }

  /** FORMERR/SERVFAIL for what could not be answered normally; header copied when possible */
  private errorReply(msg: Uint8Array, rcode: number): Buffer | undefined {
    if (msg.length < 12 || msg[2]! & 0x80) return undefined;
    return encodeResponse({ id: (msg[0]! << 8) | msg[1]!, opcode: (msg[2]! >> 3) & 0x0f, rd: (msg[2]! & 1) === 1, rcode, maxSize: 512 });
  }

  /** the reply to one message: now (Buffer), later (Promise), or never (undefined) */
  handle(msg: Buffer, transport: Transport): Reply | Promise<Reply | undefined> | undefined {
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      this.metrics.malformed.inc();
      if (parsed.drop) return undefined;
      this.count(0, parsed.rcode);
      return encodeResponse({
        id: parsed.id,
        opcode: parsed.opcode,
        rd: parsed.rd,
        ra: !this.settings.noRecursion,
        rcode: parsed.rcode,
        ...(parsed.questionEnd > 12 ? { question: msg.subarray(12, parsed.questionEnd) } : {}),
        maxSize: 512,
      });
    }
    const q = parsed.query;
    const maxSize = transport === 'tcp' ? 65535 : q.edns ? Math.min(q.edns.size, MAX_UDP) : 512;

    // EDNS versions other than 0 get BADVERS (RFC 6891 6.1.3)
    if (q.edns && q.edns.version > 0) return this.reply(q, msg, transport, RCODE.BADVERS, maxSize);
    if (q.class !== CLASS.IN && q.class !== CLASS.ANY) return this.reply(q, msg, transport, RCODE.NOTIMP, maxSize);

    // the answer cache: same question bytes (case included), same budget, same flags
    const key = `${msg.toString('latin1', 12, q.questionEnd)}|${maxSize}|${q.edns ? (q.edns.dnssecOk ? 2 : 1) : 0}|${q.rd ? 1 : 0}|${q.cd ? 1 : 0}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.gen === this.gen && hit.expires > now) {
      this.metrics.cacheHits.inc();
      const variant = hit.variants[hit.next++ % hit.variants.length]!;
      const out = Buffer.allocUnsafe(variant.length);
      variant.copy(out);
      out[0] = q.id >> 8;
      out[1] = q.id & 0xff;
      this.count(q.type, hit.rcode);
      if (out[2]! & 0x02) this.metrics.truncated.inc();
      return out;
    }

    if (!this.synced && this.inDomain(q.name)) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
    const outcome = answerFor(q, this.index, this.context(now));
    if (outcome.kind === 'forward') return this.forward(q, msg, transport, maxSize);
    if (outcome.needs.length === 0) return this.encodeAndCache(q, msg, outcome, maxSize, key, now);
    return this.withExternal(q, msg, outcome, maxSize, now);
  }

  private inDomain(name: string): boolean {
    const l = name.toLowerCase();
    const d = this.settings.domain;
    return l === `${d}.` || l.endsWith(`.${d}.`);
  }

  private context(now: number, external?: ReadonlyMap<string, readonly RR[] | null>): AnswerContext {
    const s = this.settings;
    const leases = this.leases;
    return {
      domain: s.domain,
      ttl: s.ttl,
      minTtl: s.minTtl,
      // SkyDNS's serial: the current hour
      serial: Math.floor(now / 3_600_000) * 3600,
      leaseSeconds: (id) => leases.seconds(id, now),
      ...(external ? { external } : {}),
    };
  }

  private responseBase(q: Query, msg: Uint8Array, rcode: number, maxSize: number) {
    return {
      id: q.id,
      rcode,
      rd: q.rd,
      cd: q.cd,
      ra: !this.settings.noRecursion,
      question: msg.subarray(12, q.questionEnd),
      ...(q.edns ? { edns: { size: MAX_UDP, dnssecOk: q.edns.dnssecOk } } : {}),
      maxSize,
    };
  }

  private reply(q: Query, msg: Uint8Array, _transport: Transport, rcode: number, maxSize: number): Buffer {
    this.count(q.type, rcode);
    return encodeResponse(this.responseBase(q, msg, rcode, maxSize));
  }

  private encodeOutcome(q: Query, msg: Uint8Array, outcome: Extract<Outcome, { kind: 'answer' }>, maxSize: number, rotation: number): Buffer {
    return encodeResponse({
      ...this.responseBase(q, msg, outcome.rcode, maxSize),
      aa: outcome.authoritative,
      answer: rotation === 0 ? outcome.answer : rotateAddresses(outcome.answer, rotation),
      authority: outcome.authority,
      additional: outcome.additional,
    });
  }

  private encodeAndCache(q: Query, msg: Uint8Array, outcome: Extract<Outcome, { kind: 'answer' }>, maxSize: number, key: string, now: number): Buffer {
    let addresses = 0;
    for (const rr of outcome.answer) if (rr.type === TYPE.A || rr.type === TYPE.AAAA) addresses++;
    const rotations = Math.max(1, Math.min(addresses, 16));
    const variants: Buffer[] = [];
    for (let k = 0; k < rotations; k++) variants.push(this.encodeOutcome(q, msg, outcome, maxSize, k));
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    // the cached copy must not carry this query's id into the next one: it is overwritten per hit
    this.cache.set(key, { gen: this.gen, expires: now + CACHE_MS, rcode: outcome.rcode, variants, next: 1 });
    this.metrics.cacheEntries.set(this.cache.size);
    this.count(q.type, outcome.rcode);
    const first = variants[0]!;
    if (first[2]! & 0x02) this.metrics.truncated.inc();
    return Buffer.from(first);
  }

  private async withExternal(q: Query, msg: Uint8Array, first: Extract<Outcome, { kind: 'answer' }>, maxSize: number, now: number): Promise<Buffer | undefined> {
    const external = new Map<string, readonly RR[] | null>();
    const deadline = now + QUERY_BUDGET_MS;
    let outcome: Outcome = first;
    for (let round = 0; round < 3 && outcome.kind === 'answer' && outcome.needs.length > 0; round++) {
      const needs = outcome.needs;
      const results = await Promise.all(
        needs.map((n) => (this.settings.noRecursion || Date.now() > deadline ? Promise.resolve(null) : this.forwarder.lookup(n.name, n.type))),
      );
      needs.forEach((n, i) => external.set(externalKey(n.name, n.type), results[i]!));
      outcome = answerFor(q, this.index, this.context(Date.now(), external));
    }
    if (outcome.kind !== 'answer') return undefined;
    if (outcome.needs.length > 0) {
      // whatever is still missing does not resolve
      for (const n of outcome.needs) external.set(externalKey(n.name, n.type), null);
      outcome = answerFor(q, this.index, this.context(Date.now(), external));
      if (outcome.kind !== 'answer') return undefined;
    }
    this.count(q.type, outcome.rcode);
    const reply = this.encodeOutcome(q, msg, outcome, maxSize, 0);
    if (reply[2]! & 0x02) this.metrics.truncated.inc();
    return reply;
  }

  private forward(q: Query, msg: Buffer, transport: Transport, maxSize: number): Buffer | Promise<Buffer | undefined> {
    if (this.settings.noRecursion) return this.reply(q, msg, transport, RCODE.REFUSED, maxSize);
    if (this.settings.nameservers.length === 0) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
    return this.forwarder.relay(msg, transport).then((reply) => {
      if (!reply) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
      this.count(q.type, reply[3]! & 0x0f);
      return reply;
    });
  }
}

/**
 * The DNS lookups confd templates call (lookupIP, lookupIPV4, lookupIPV6, lookupSRV), without
 * blocking the event loop. Templates evaluate synchronously, so a lookup the template needs and
 * nobody has answered yet is recorded and answered empty; after the evaluation the recorded
 * lookups are resolved together (node:dns, each bounded in time) and the template is evaluated
 * again with the answers, until it needs nothing new: the resumable shape of dns/answer.ts's
 * `needs`.
 */
import { lookup as systemLookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { GoStruct } from './template/values.js';
import { compareStrings } from './kv.js';

export class SRV extends GoStruct {
  constructor(
    readonly Target: string,
    readonly Port: number,
    readonly Priority: number,
    readonly Weight: number,
  ) {
    super();
  }
  fieldNames(): readonly string[] {
    return ['Target', 'Port', 'Priority', 'Weight'];
  }
  format(): string {
    return `&{${this.Target} ${this.Port} ${this.Priority} ${this.Weight}}`;
  }
}

/** A DNS name as resolvers take it: labels of letters, digits, `_` and `-`, 253 characters in all. */
const LOOKUP_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

export function isLookupName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return bare.length > 0 && bare.length <= 253 && bare.split('.').every((label) => LOOKUP_LABEL.test(label));
}

/** Answers node:dns gives, as Go's net package prints them (IPv4-mapped IPv6 as dotted IPv4). */
function goIPString(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped ? mapped[1]! : ip.toLowerCase();
}

/** Sorted bytewise (Go's sort.Strings), duplicates dropped, so DNS round robin causes no rewrites. */
function sortedIPs(ips: Iterable<string>): string[] {
  return [...new Set([...ips].map(goIPString))].sort(compareStrings);
}

/** confd's order for SRV answers: by the string Target+Port+Priority+Weight. */
function sortedSRVs(srvs: SRV[]): SRV[] {
  const key = (s: SRV): string => `${s.Target}${s.Port}${s.Priority}${s.Weight}`;
  return srvs.sort((a, b) => compareStrings(key(a), key(b)));
}

/** Where the answers come from; both resolve to empty on any failure, as confd's functions do. */
export interface LookupResolver {
  /** every address of `name` (A and AAAA), in any order */
  ip(name: string): Promise<string[]>;
  /** the SRV records of `query` (`_service._proto.name`) */
  srv(query: string): Promise<SRV[]>;
}

export interface ResolverOptions {
  /** DNS servers (`1.2.3.4`, `1.2.3.4:53`, `[::1]:5353`); none: the system's */
  readonly servers?: readonly string[];
  /** time limit of one lookup */
  readonly timeoutMs: number;
}

/** What setServers thinks of these servers: undefined when it takes them. */
export function serversProblem(servers: readonly string[]): string | undefined {
  try {
    new Resolver().setServers([...servers]);
    return undefined;
  } catch (err) {
    return `expected IP, IP:PORT or [IPv6]:PORT (${(err as Error).message})`;
  }
}

/**
 * node:dns as a LookupResolver. Without servers, addresses come from getaddrinfo (/etc/hosts and
 * DNS, as `getent ahosts` and Go's resolver read them; it runs on libuv's thread pool) and SRV
 * records from /etc/resolv.conf's nameservers; with servers, both are asked of those servers only.
 * Each lookup gives up after timeoutMs.
 */
export function dnsResolver(options: ResolverOptions): LookupResolver {
  const { timeoutMs } = options;
  const resolver = (): Resolver => {
    const r = new Resolver({ timeout: timeoutMs, tries: 1 });
    if (options.servers && options.servers.length > 0) r.setServers([...options.servers]);
    return r;
  };
  const custom = options.servers !== undefined && options.servers.length > 0;
  return {
    async ip(name) {
      if (!custom) {
        const answers = await bounded(systemLookup(name, { all: true, order: 'verbatim' }), timeoutMs);
        return (answers ?? []).map((a) => a.address);
      }
      const r = resolver();
      try {
        const [v4, v6] = await Promise.all([bounded(r.resolve4(name), timeoutMs), bounded(r.resolve6(name), timeoutMs)]);
        return [...(v4 ?? []), ...(v6 ?? [])];
      } finally {
        r.cancel();
      }
    },
    async srv(query) {
      const r = resolver();
      try {
        const records = (await bounded(r.resolveSrv(query), timeoutMs)) ?? [];
        return records.map((x) => new SRV(x.name.endsWith('.') ? x.name : `${x.name}.`, x.port, x.priority, x.weight));
      } finally {
        r.cancel();
      }
    },
  };
}

/** The promise's value, or undefined when it fails or takes longer than `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Need = { kind: 'ip'; name: string } | { kind: 'srv'; name: string };

/**
 * The lookups of one render run: answers known so far, and the lookups asked for that have none
 * yet. The template functions read it synchronously; `resolve` answers what was asked.
 */
export class TemplateLookups {
  private readonly ips = new Map<string, readonly string[]>();
  private readonly srvs = new Map<string, readonly SRV[]>();
  private readonly needs = new Map<string, Need>();

  /** net.LookupIP, sorted as confd sorts it; empty when the name does not resolve (or not yet). */
  ip(name: string): string[] {
    if (isIP(name)) return [goIPString(name)];
    if (!isLookupName(name)) return [];
    const known = this.ips.get(name);
    if (known) return [...known];
    this.needs.set(`ip ${name}`, { kind: 'ip', name });
    return [];
  }

  /** confd's lookupIPV4: the addresses with a `.` */
  ipv4(name: string): string[] {
    return this.ip(name).filter((ip) => ip.includes('.'));
  }

  /** confd's lookupIPV6: the addresses with a `:` */
  ipv6(name: string): string[] {
    return this.ip(name).filter((ip) => ip.includes(':'));
  }

  /** net.LookupSRV(service, proto, name) sorted as confd sorts it; empty on failure (or not yet). */
  srv(service: string, proto: string, name: string): SRV[] {
    const query = service === '' && proto === '' ? name : `_${service}._${proto}.${name}`;
    if (!isLookupName(query)) return [];
    const known = this.srvs.get(query);
    if (known) return [...known];
    this.needs.set(`srv ${query}`, { kind: 'srv', name: query });
    return [];
  }

  /** Whether an evaluation asked for lookups that have no answer yet. */
  get pending(): number {
    return this.needs.size;
  }

  /** Answers every pending lookup at once (failures answer empty). */
  async resolve(resolver: LookupResolver): Promise<void> {
    const needs = [...this.needs.values()];
    this.needs.clear();
    await Promise.all(
      needs.map(async (need) => {
        if (need.kind === 'ip') this.ips.set(need.name, sortedIPs(await resolver.ip(need.name).catch(() => [])));
        else this.srvs.set(need.name, sortedSRVs(await resolver.srv(need.name).catch(() => [])));
      }),
    );
  }
}

/** Rounds of lookups one evaluation may take (a lookup's answer can name the next lookup). */
const MAX_ROUNDS = 8;

/**
 * Evaluates `evaluate` until it needs no lookup it has no answer for: the result of the last
 * evaluation, or its error. An error while lookups were pending is not final, since the empty
 * stand-in answers may have caused it.
 */
export async function evaluateWithLookups<T>(evaluate: () => T, lookups: TemplateLookups, resolver: LookupResolver): Promise<T> {
  for (let round = 1; ; round++) {
    let result: { value: T } | { error: unknown };
    try {
      result = { value: evaluate() };
    } catch (error) {
      result = { error };
    }
    if (lookups.pending === 0 || round > MAX_ROUNDS) {
      if ('error' in result) throw result.error;
      if (lookups.pending > 0) throw new Error(`template lookups: still asking for new names after ${MAX_ROUNDS} rounds`);
      return result.value;
    }
    await lookups.resolve(resolver);
  }
}

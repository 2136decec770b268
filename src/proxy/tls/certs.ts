/**
 * Certificates as the proxy serves them, pure: a PEM chain and key validated into a
 * `ValidCert` (key matches the leaf, inside its validity, every certificate of the chain parses
 * and is issued by the next), the names it serves (its SAN's DNS names), and SNI selection:
 * exact name, then the one-label wildcard, then the default, else none.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

/** A pair that passed validation, with what /status and the SNI index need. */
export interface ValidCert {
  /** the file base name or etcd key name */
  readonly name: string;
  /** `dir` (--tls-cert-dir) or `etcd` */
  readonly source: string;
  /** lowercase DNS names from the SAN, wildcards as `*.example.com` */
  readonly hosts: readonly string[];
  readonly notAfter: Date;
  readonly issuer: string;
  readonly fingerprint: string;
  readonly pair: CertPair;
}

export type PairResult = { readonly ok: true; readonly cert: ValidCert } | { readonly ok: false; readonly reason: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Validates one pair at `now` (ms). Never throws: what is wrong comes back as `reason`. */
export function validatePair(name: string, source: string, pair: CertPair, now: number): PairResult {
  const fail = (reason: string): PairResult => ({ ok: false, reason });
  const blocks = pair.cert.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return fail('no PEM certificate in the chain');
  const chain: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(block));
    } catch (err) {
      return fail(`certificate ${i + 1} of the chain does not parse: ${(err as Error).message}`);
    }
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!)) return fail(`certificate ${i + 1} of the chain is not issued by certificate ${i + 2}`);
  }
  const leaf = chain[0]!;
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    return fail(`private key does not parse: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) return fail('private key does not match the certificate');
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (!(now < notAfter)) return fail(`certificate expired at ${new Date(notAfter).toISOString()}`);
  if (now < notBefore) return fail(`certificate not valid before ${new Date(notBefore).toISOString()}`);
  const hosts = sanHosts(leaf.subjectAltName);
  if (hosts.length === 0) return fail('certificate names no DNS name in its subjectAltName');
  return { ok: true, cert: { name, source, hosts, notAfter: new Date(notAfter), issuer: oneLine(leaf.issuer), fingerprint: leaf.fingerprint256, pair } };
}

/** The DNS names of a subjectAltName string (`DNS:a.example, IP Address:...`), lowercase. */
export function sanHosts(san: string | undefined): string[] {
  if (san === undefined) return [];
  const hosts = new Set<string>();
  // X509Certificate quotes entries holding a comma; DNS names never do
  for (const part of san.split(/,\s*/)) {
    const m = /^DNS:(.+)$/.exec(part.trim());
    if (m) hosts.add(m[1]!.toLowerCase().replace(/\.$/, ''));
  }
  return [...hosts].sort();
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

/** Which certificate serves which name: built once per change, read on every handshake. */
export interface SniIndex<T> {
  readonly exact: ReadonlyMap<string, T>;
  /** keyed by the suffix after `*.` */
  readonly wildcard: ReadonlyMap<string, T>;
  readonly fallback: T | undefined;
}

/**
 * Builds the index. Several certificates for one name: the one valid longest wins (then the
 * name, for a stable answer). `defaultName` names the certificate for SNI names nothing matches
 * (and for clients that send no SNI).
 */
export function buildIndex<T extends { cert: ValidCert }>(entries: Iterable<T>, defaultName: string | undefined): SniIndex<T> {
  const exact = new Map<string, T>();
  const wildcard = new Map<string, T>();
  let fallback: T | undefined;
  const better = (a: T, b: T | undefined): boolean =>
    b === undefined || a.cert.notAfter.getTime() > b.cert.notAfter.getTime() || (a.cert.notAfter.getTime() === b.cert.notAfter.getTime() && a.cert.name < b.cert.name);
  for (const entry of entries) {
    for (const host of entry.cert.hosts) {
      if (host.startsWith('*.')) {
        const suffix = host.slice(2);
        if (better(entry, wildcard.get(suffix))) wildcard.set(suffix, entry);
      } else if (better(entry, exact.get(host))) exact.set(host, entry);
    }
    if (defaultName !== undefined && entry.cert.name === defaultName && better(entry, fallback)) fallback = entry;
  }
  return { exact, wildcard, fallback };
}

/** SNI selection: exact name, then `*.` + parent (one label only), then the default. */
export function selectFor<T>(index: SniIndex<T>, servername: string | undefined): T | undefined {
  if (servername === undefined || servername === '') return index.fallback;
  const name = servername.toLowerCase().replace(/\.$/, '');
  const exact = index.exact.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = index.wildcard.get(name.slice(dot + 1));
    if (wild !== undefined) return wild;
  }
  return index.fallback;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS label as the contract allows for services and instance ids. */
export function isDnsLabel(text: string): boolean {
  return LABEL.test(text);
}

/** An instance id as readers accept it: DNS labels, and what sidekicks wrote (`apache@1`). */
export function isInstanceId(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._@:+=-]{0,252}$/.test(text);
}

/** Lowercases and replaces anything outside `a-z0-9-` so that `Web_1:8080` becomes `web-1-8080`. */
export function sanitizeLabel(text: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? 'instance' : label;
}

/** The contract's default instance id: host name and port, sanitized (`web1-8080`). */
export function defaultInstanceId(hostname: string, port: number): string {
  const short = hostname.split('.')[0] ?? hostname;
  return sanitizeLabel(`${short}-${port}`);
}

/** `skydns.local.` -> `skydns.local` (lowercase, no trailing dot). */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.+$/, '');
}

function joinKey(prefix: string, labels: readonly string[]): string {
  const base = prefix.replace(/\/+$/, '');
  return labels.length === 0 ? base : `${base}/${labels.join('/')}`;
}

/** `web1-8080.app.skydns.local.` under `/skydns` -> `/skydns/local/skydns/app/web1-8080`. */
export function nameToKey(name: string, prefix = '/skydns'): string {
  const labels = normalizeDomain(name).split('.').filter(Boolean).reverse();
  return joinKey(prefix, labels);
}

/** The inverse of nameToKey; undefined for keys outside the prefix. Returns a fully qualified name. */
export function keyToName(key: string, prefix = '/skydns'): string | undefined {
  const base = prefix.replace(/\/+$/, '');
  if (key !== base && !key.startsWith(`${base}/`)) return undefined;
  const labels = key.slice(base.length).split('/').filter(Boolean).reverse();
  return labels.length === 0 ? '.' : `${labels.join('.')}.`;
}

/** The SkyDNS key of one announced instance: `<prefix>/<domain reversed>/<service>/<id>`. */
export function skydnsKey(prefix: string, domain: string, service: string, id: string): string {
  return nameToKey(`${id}.${service}.${normalizeDomain(domain)}`, prefix);
}

export function servicesKey(prefix: string, service: string, id: string): string {
  return joinKey(prefix, [service, id]);
}

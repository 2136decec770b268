/** Names as the answer logic compares them: lowercase FQDNs, index key labels, zone membership. */

export function lower(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

export function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** `a.b.c.` -> reversed labels `['c','b','a']`, lowercase */
export function keyLabels(lname: string): string[] {
  const labels = lname.split('.').filter(Boolean);
  labels.reverse();
  return labels;
}

export function isSubdomain(lname: string, domain: string): boolean {
  // lname has a trailing dot, domain does not
  return lname === `${domain}.` || lname.endsWith(`.${domain}.`);
}

/** SkyDNS `targetStrip`: drop the first `n` labels unless that would leave nothing. */
export function targetStrip(name: string, n: number): string {
  if (n <= 0) return name;
  const labels = name.split('.').filter(Boolean);
  if (n >= labels.length) return name;
  return `${labels.slice(n).join('.')}.`;
}

/** The apex as the query spells it: `Foo.SkyDNS.Local.` -> `SkyDNS.Local.` */
export function apexOwner(qname: string, domain: string): string {
  const want = domain.split('.').length;
  const labels = qname.split('.').filter(Boolean);
  if (labels.length < want) return `${domain}.`;
  const tail = labels.slice(labels.length - want);
  return tail.join('.').toLowerCase() === domain ? `${tail.join('.')}.` : `${domain}.`;
}

export function isReverseName(lname: string): boolean {
  return lname.endsWith('.in-addr.arpa.') || lname.endsWith('.ip6.arpa.');
}

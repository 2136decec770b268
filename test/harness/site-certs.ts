import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SiteCert {
  /** leaf then the CA, PEM */
  chain: string;
  key: string;
  chainFile: string;
  keyFile: string;
}

export interface SiteCA {
  dir: string;
  caFile: string;
  /** a leaf for DNS names `sans` (EC P-256), signed by this CA, valid `days` */
  sign(name: string, sans: readonly string[], days?: number): SiteCert;
  cleanup(): void;
}

/** A throwaway CA issuing server certificates for DNS names, made with openssl. */
export function makeSiteCA(): SiteCA {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-site-certs-'));
  const p = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(p('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  ssl('req', '-x509', ...ec, '-days', '3', '-subj', '/CN=beacon-tls-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', p('ca.key'), '-out', p('ca.pem'));
  let serial = 1;
  return {
    dir,
    caFile: p('ca.pem'),
    sign(name, sans, days = 2) {
      const n = `${name}-${serial++}`;
      writeFileSync(p(`${n}.ext`), `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
      ssl('req', ...ec, '-subj', `/CN=${sans[0] ?? name}`, '-keyout', p(`${n}.key`), '-out', p(`${n}.csr`));
      ssl('x509', '-req', '-in', p(`${n}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', String(days), '-extfile', p(`${n}.ext`), '-out', p(`${n}.leaf`));
      const chain = readFileSync(p(`${n}.leaf`), 'utf8') + readFileSync(p('ca.pem'), 'utf8');
      writeFileSync(p(`${n}.crt`), chain);
      return { chain, key: readFileSync(p(`${n}.key`), 'utf8'), chainFile: p(`${n}.crt`), keyFile: p(`${n}.key`) };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The TLS flags of `beacon proxy` (contract: "proxy TLS"). */
import type { FlagSpec } from '../../config/flags.js';
import { UsageError } from '../../errors.js';

export interface TlsConfig {
  tlsListen?: string;
  tlsCertDir?: string;
  tlsPrefix: string;
  tlsDefaultCert?: string;
  tlsSealKey?: string;
  httpsRedirect: boolean;
  hsts: number;
  acmePrefix: string;
}

export const TLS_FLAGS: readonly FlagSpec[] = [
  { name: 'tls-listen', type: 'addr', placeholder: 'ADDR', help: 'also serve HTTPS here (e.g. 0.0.0.0:443): TLS 1.2/1.3, SNI from --tls-cert-dir and --tls-prefix certificates; off when unset' },
  { name: 'tls-cert-dir', type: 'string', placeholder: 'DIR', help: 'directory of NAME.crt + NAME.key PEM pairs, watched; changes apply to new handshakes' },
  { name: 'tls-prefix', type: 'string', placeholder: 'PREFIX', default: '/beacon/tls', help: 'store prefix of certificates: <prefix>/<name> = {"cert","key"} or {"cert","sealedKey"}, watched' },
  { name: 'tls-default-cert', type: 'string', placeholder: 'NAME', help: 'certificate (file base name or store name) for SNI names no certificate matches; else such handshakes fail' },
  { name: 'tls-seal-key', type: 'string', placeholder: 'FILE', help: 'file whose SHA-256 is the AES-256-GCM key of "sealedKey" values' },
  { name: 'https-redirect', type: 'bool', default: false, help: 'answer every plain-HTTP request with 308 to the same URL on https (needs --tls-listen)' },
  { name: 'acme-prefix', type: 'string', placeholder: 'PREFIX', default: '/beacon/acme', help: 'store prefix of ACME HTTP-01 tokens: <prefix>/<token> = key authorization, answered on --listen at /.well-known/acme-challenge/<token> (with --tls-listen); the issuers\' lock is <prefix>-lock, the shared account key under <prefix>-account/, failed hosts\' backoff under <prefix>-backoff/' },
  { name: 'hsts', type: 'int', placeholder: 'MAX-AGE', default: 0, min: 0, max: 2 ** 31 - 1, help: 'send Strict-Transport-Security: max-age=MAX-AGE (seconds) on HTTPS responses that carry none; 0 = off' },
];

/** Flag combinations one flag's check cannot see. */
export function checkTlsFlags(config: TlsConfig & { acmeEmail?: string; acmeCa?: string }): void {
  if (config.httpsRedirect && config.tlsListen === undefined) throw new UsageError('--https-redirect', 'needs --tls-listen (there is no https to redirect to)');
  if (config.hsts > 0 && config.tlsListen === undefined) throw new UsageError('--hsts', 'needs --tls-listen');
  if (config.tlsListen === undefined) {
    for (const [flag, value] of [['--tls-cert-dir', config.tlsCertDir], ['--tls-default-cert', config.tlsDefaultCert], ['--acme-email', config.acmeEmail], ['--acme-ca', config.acmeCa]] as const) {
      if (value !== undefined) throw new UsageError(flag, 'needs --tls-listen');
    }
  }
}

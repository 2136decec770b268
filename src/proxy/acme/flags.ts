/** The ACME flags of `beacon proxy` (contract: "proxy TLS"); AcmeConfig follows from them. */
import type { FlagSpec } from '../../config/flags.js';
import type { ConfigOf } from '../../config/typed.js';

/** Let's Encrypt's production directory. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

const URL_OK = (v: string): string | undefined => (/^https?:\/\/[^\s/?#]+[^\s]*$/.test(v) ? undefined : `expected an http(s) URL such as ${LETS_ENCRYPT_DIRECTORY}, got ${JSON.stringify(v)}`);
const EMAIL_OK = (v: string): string | undefined => (/^[^\s@,]+@[^\s@,]+$/.test(v) ? undefined : `expected an address such as ops@example.com, got ${JSON.stringify(v)}`);

export const ACME_FLAGS = [
  { name: 'acme-email', type: 'string', placeholder: 'EMAIL', help: 'contact address of the ACME account (the CA mails expiry warnings there); the account is made without one when unset', validate: EMAIL_OK },
  { name: 'acme-directory', type: 'string', placeholder: 'URL', default: LETS_ENCRYPT_DIRECTORY, help: 'ACME directory of the CA that issues certificates for routes with "tls": "acme"', validate: URL_OK },
  { name: 'acme-ca', type: 'string', placeholder: 'FILE', help: 'PEM CA bundle trusted (besides the system roots) for the ACME server\'s HTTPS, e.g. a test CA\'s root' },
  { name: 'acme-renew-before', type: 'duration', default: 720 * 3_600_000, min: 1000, help: 'order a new certificate when the one served expires within this (720h = 30 days); ACME runs with --tls-listen for routes with "tls": "acme"' },
] as const satisfies readonly FlagSpec[];

/** The ACME flags, parsed (durations in ms). */
export type AcmeConfig = ConfigOf<typeof ACME_FLAGS>;

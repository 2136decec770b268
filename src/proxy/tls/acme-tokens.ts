/**
 * ACME HTTP-01 answers on the plain listener (RFC 8555 8.3): `<acme-prefix>/<token>` in the store
 * holds the key authorization, and every proxy answers
 * `GET /.well-known/acme-challenge/<token>` with it, so whichever proxy the CA reaches answers a
 * challenge any issuer ordered. Mirrored by the catalog like the certificates.
 */
import type { Catalog, CatalogChange } from '../../catalog/catalog.js';
import type { Refusal } from '../admission.js';

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';
/** base64url, as RFC 8555 tokens are */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** The token a request target asks for, or undefined when it is no challenge request. */
export function challengeToken(url: string): string | undefined {
  if (!url.startsWith(CHALLENGE_PATH)) return undefined;
  const token = url.slice(CHALLENGE_PATH.length);
  return TOKEN.test(token) ? token : undefined;
}

export class AcmeTokens {
  readonly prefix: string;
  private tokens = new Map<string, string>();

  constructor(
    prefix: string,
    private readonly catalog: Catalog,
  ) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  changed(change: CatalogChange): void {
    if (!change.reset && ![...change.keys].some((k) => k.startsWith(this.prefix))) return;
    const tokens = new Map<string, string>();
    for (const [key, kv] of this.catalog.rawEntries()) {
      if (!key.startsWith(this.prefix)) continue;
      const token = key.slice(this.prefix.length);
      if (TOKEN.test(token)) tokens.set(token, kv.value.trim());
    }
    this.tokens = tokens;
  }

  /** whether `token` is answered now */
  has(token: string): boolean {
    return this.tokens.has(token);
  }

  /** The 200 with the key authorization for a challenge request whose token is stored. */
  answer(url: string): Refusal | undefined {
    if (this.tokens.size === 0) return undefined;
    const token = challengeToken(url);
    const value = token === undefined ? undefined : this.tokens.get(token);
    return value === undefined ? undefined : { status: 200, body: value };
  }
}

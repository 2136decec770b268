/**
 * HTTPS redirects, pure: a plain-HTTP request's 308 to the same URL on the TLS listener. Used for
 * --https-redirect (every host); a route's `"https": "redirect"` is the route table's (routes/action.ts).
 */
import { httpsAuthority } from '../../routes/action.js';
import type { Refusal } from '../admission.js';

/**
 * The 308 for `host` + `url` (the request target, a path), or undefined when the Host is no
 * authority to redirect to (the request then meets the usual admission, a 400).
 */
export function httpsRedirect(host: string, url: string, tlsPort: number): Refusal | undefined {
  if (url.charCodeAt(0) !== 47 /* / */) return undefined;
  const authority = httpsAuthority(host, tlsPort);
  if (authority === undefined) return undefined;
  const location = `https://${authority}${url}`;
  return { status: 308, body: `moved to ${location}\n`, location };
}

/** What the engines call for a plain-HTTP request: an answer of the proxy's own (a redirect, an ACME challenge), or undefined to serve it. */
export type PlainRedirect = (host: string, url: string) => Refusal | undefined;

/**
 * What a matched route does with a request: forward (with the target the upstream gets) or
 * redirect (status and Location). Pure; shared by the proxy's admission and `beacon explain`.
 */
import { queryOf, stripPrefix } from './path.js';
import type { Route } from './route.js';

export type RouteAction = { readonly kind: 'forward'; readonly service: string; readonly target: string } | { readonly kind: 'redirect'; readonly status: number; readonly location: string };

/**
 * `url` is the request target as received, `path` its normalised path, `host` the Host header
 * (for the https redirect), `proto` how the request came, `httpsPort` the port HTTPS is served on.
 */
export function routeAction(route: Route, url: string, path: string, host: string, proto: 'http' | 'https', httpsPort = 443): RouteAction {
  if (route.httpsRedirect && proto !== 'https') {
    const authority = httpsAuthority(host, httpsPort);
    if (authority !== undefined) return { kind: 'redirect', status: 308, location: `https://${authority}${url}` };
  }
  const redirect = route.redirect;
  if (redirect !== undefined) {
    // `to` is kept without a trailing slash: a bare origin gets one back
    const location = redirect.keepPath ? `${redirect.to}${url}` : /^https?:\/\/[^/]+$/.test(redirect.to) ? `${redirect.to}/` : redirect.to;
    return { kind: 'redirect', status: redirect.code, location };
  }
  const service = route.service!;
  if (!route.stripPath || route.path === '/') return { kind: 'forward', service, target: url };
  return { kind: 'forward', service, target: stripPrefix(route.path, path) + queryOf(url) };
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/**
 * A Host as the authority of its https URL: its port replaced by `httpsPort` (left out when it
 * is 443); undefined when the Host is no authority to send anyone to.
 */
export function httpsAuthority(host: string, httpsPort: number): string | undefined {
  const m = HOST_PORT.exec(host);
  if (m === null || m[1] === '') return undefined;
  return httpsPort === 443 ? m[1]!.toLowerCase() : `${m[1]!.toLowerCase()}:${httpsPort}`;
}

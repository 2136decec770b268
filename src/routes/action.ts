/**
 * What a matched route does with a request: forward (with the target the upstream gets) or
 * redirect (status and Location). Pure; shared by the proxy's admission and `beacon explain`.
 */
import { queryOf, stripPrefix } from './path.js';
import type { Route } from './route.js';

export type RouteAction = { readonly kind: 'forward'; readonly service: string; readonly target: string } | { readonly kind: 'redirect'; readonly status: number; readonly location: string };

/**
 * `url` is the request target as received, `path` its normalised path, `host` the Host header
 * (for the https redirect), `proto` how the request came.
 */
export function routeAction(route: Route, url: string, path: string, host: string, proto: 'http' | 'https'): RouteAction {
  if (route.httpsRedirect && proto !== 'https' && host !== '') {
    return { kind: 'redirect', status: 308, location: `https://${withoutPort(host)}${url}` };
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

function withoutPort(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon === -1 || host.endsWith(']') ? host : host.slice(0, colon);
}

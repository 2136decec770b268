/**
 * Request admission, shared by both engines and by WebSocket upgrades: is the request target a
 * path, is there exactly one Host (one is required from HTTP/1.1 on) and is it an authority,
 * which route it meets (host, then the normalised path: src/routes/), and what that route does
 * (forward, with the target rewritten when it strips its prefix, or redirect). Pure: the
 * candidates lookup is passed in.
 */
import type { Route } from '../routes/route.js';
import { matchPath, type Candidate } from '../routes/table.js';
import { normalizePath } from '../routes/path.js';
import { routeAction } from '../routes/action.js';
import { printable } from './responses.js';

/** A request the proxy answers itself instead of forwarding. */
export interface Refusal {
  readonly status: number;
  readonly body: string;
  /** the service it was meant for, when known (metrics label) */
  readonly service?: string;
  /** a redirect's Location (308 to https, or a route's redirect) */
  readonly location?: string;
}

/** A request that goes upstream: its route and the target to send. */
export interface Admitted {
  readonly route: Route;
  readonly service: string;
  /** the request target for the upstream (the client's, or stripped of the route's prefix) */
  readonly target: string;
}

export interface AdmissionInput {
  /** request target as received */
  readonly url: string;
  /** how many Host headers the request had */
  readonly hosts: number;
  /** the first Host value ('' when none) */
  readonly host: string;
  /** HTTP/1.x minor version */
  readonly versionMinor: number;
  /** HTTP major version (1 when absent): anything but 1 gets 505 */
  readonly versionMajor?: number;
  /** `https` when it came over TLS (routes with `"https": "redirect"` answer plain HTTP with 308) */
  readonly proto?: 'http' | 'https';
  /** the port HTTPS is served on (--tls-listen), for routes' redirects to it; 443 when absent */
  readonly httpsPort?: number;
}

/** Host -> candidate routes in match order (a Router's candidates). */
export type RouteLookup = (host: string | undefined) => readonly Candidate[];

/** RFC 3986 authority without userinfo: reg-name, IPv4 or [IPv6], then an optional port. */
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;

const BAD_TARGET: Refusal = { status: 400, body: 'request target must be a path\n' };
const BAD_HOST: Refusal = { status: 400, body: 'invalid Host header\n' };
/** RFC 9110 15.6.6: HTTP/2 and /3 have their own connection preface; a /2.0 request line here is no HTTP/2 */
export const BAD_VERSION: Refusal = { status: 505, body: 'only HTTP/1.0 and HTTP/1.1 are spoken here\n' };

export function isRefusal(x: Admitted | Refusal): x is Refusal {
  return (x as Refusal).status !== undefined;
}

/**
 * What is wrong with a request's target and Host count, before any routing. RFC 9112 3.2:
 * more than one Host, or none on HTTP/1.1, is a 400; passing such a request on invites cache
 * poisoning and upstream confusion.
 */
export function requestProblem(input: AdmissionInput): Refusal | undefined {
  if (input.versionMajor !== undefined && input.versionMajor !== 1) return BAD_VERSION;
  if (input.url.charCodeAt(0) !== 47 /* / */) return BAD_TARGET;
  if (input.hosts > 1 || (input.hosts === 0 && input.versionMinor >= 1)) return BAD_HOST;
  return undefined;
}

/** The candidates for a Host, or why there are none to look at (a Host that is no authority). */
export function hostCandidates(host: string, lookup: RouteLookup): readonly Candidate[] | Refusal {
  if (!HOST_SYNTAX.test(host)) return BAD_HOST;
  return lookup(host === '' ? undefined : host);
}

/** The route among a Host's candidates for a target, and what it does with the request. */
export function routeTarget(candidates: readonly Candidate[], input: AdmissionInput): Admitted | Refusal {
  const url = input.url;
  const path = normalizePath(url);
  const match = matchPath(candidates, path);
  if (match === undefined) {
    return { status: 404, body: path === '/' ? `no route for host "${printable(input.host)}"\n` : `no route for host "${printable(input.host)}" and path "${printable(path)}"\n` };
  }
  const route = match.route;
  const action = routeAction(route, url, path, input.host, input.proto ?? 'http', input.httpsPort);
  if (action.kind === 'redirect') return { status: action.status, body: `moved to ${action.location}\n`, location: action.location };
  return { route, service: action.service, target: action.target };
}

/** Both checks and the route: what to forward, or the answer. */
export function admit(input: AdmissionInput, lookup: RouteLookup): Admitted | Refusal {
  const problem = requestProblem(input);
  if (problem !== undefined) return problem;
  const candidates = hostCandidates(input.host, lookup);
  return 'status' in candidates ? candidates : routeTarget(candidates, input);
}

/** The refusal for a service without a live instance. */
export function noInstance(service: string): Refusal {
  return { status: 503, body: `no live instance of service "${service}"\n`, service };
}

/** How many Host headers a flat `[name, value, ...]` list has, and the first one's value. */
export function hostsOf(raw: readonly string[]): { host: string; hosts: number } {
  let host = '';
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && hosts++ === 0) host = raw[i + 1]!;
  }
  return { host, hosts };
}

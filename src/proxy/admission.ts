/**
 * Request admission, shared by both engines and by WebSocket upgrades: is the request target a
 * path, is there exactly one Host (one is required from HTTP/1.1 on) and is it an authority,
 * and which service does it route to. Pure: the router is passed in.
 */
import { printable } from './responses.js';

/** A request the proxy answers itself instead of forwarding. */
export interface Refusal {
  readonly status: number;
  readonly body: string;
  /** the service it was meant for, when known (metrics label) */
  readonly service?: string;
  /** a redirect's target (308 to https) */
  readonly location?: string;
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
}

/** Host -> service (a HostRouter's route), or undefined when nothing routes it. */
export type RouteLookup = (host: string | undefined) => string | undefined;

/** RFC 3986 authority without userinfo: reg-name, IPv4 or [IPv6], then an optional port. */
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;

const BAD_TARGET: Refusal = { status: 400, body: 'request target must be a path\n' };
const BAD_HOST: Refusal = { status: 400, body: 'invalid Host header\n' };
/** RFC 9110 15.6.6: HTTP/2 and /3 have their own connection preface; a /2.0 request line here is no HTTP/2 */
export const BAD_VERSION: Refusal = { status: 505, body: 'only HTTP/1.0 and HTTP/1.1 are spoken here\n' };

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

/** The service a Host routes to, or why not (a Host that is no authority, or no route). */
export function routeHost(host: string, route: RouteLookup): string | Refusal {
  if (!HOST_SYNTAX.test(host)) return BAD_HOST;
  const service = route(host === '' ? undefined : host);
  return service ?? { status: 404, body: `no route for host "${printable(host)}"\n` };
}

/** Both checks: the service, or the refusal. */
export function admit(input: AdmissionInput, route: RouteLookup): string | Refusal {
  return requestProblem(input) ?? routeHost(input.host, route);
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

import type { StoreConfig } from '../config/common.js';
import type { FlagSpec } from '../config/flags.js';
import type { ConfigOf } from '../config/typed.js';
import { isDnsLabel, normalizeDomain } from '../catalog/names.js';
import { routeFlagProblem } from '../routes/route.js';
import { ENGINE_CHOICES, type EngineChoice } from './engine-choice.js';
import { TCP_FLAGS, type TcpConfig } from './tcp/flags.js';
import { TLS_FLAGS, type TlsConfig } from './tls/flags.js';
import { ACME_FLAGS, type AcmeConfig } from './acme/flags.js';

const label = (what: string) => (v: string) => (isDnsLabel(v) ? undefined : `${what} must be a DNS label (a-z, 0-9, '-', 1-63 chars), got ${JSON.stringify(v)}`);

/** The proxy's flags: one line each; ProxyConfig follows from them. */
export const PROXY_FLAGS = [
  { name: 'listen', type: 'addr', placeholder: 'ADDR', default: '0.0.0.0:80', help: 'address to serve HTTP on' },
  {
    name: 'engine',
    type: 'string',
    placeholder: 'ENGINE',
    default: 'auto',
    choices: ENGINE_CHOICES,
    help: 'HTTP engine: fast (own HTTP/1.1 engine on Node internals), portable (node:http and undici, public APIs only), auto (fast when its probes of the internals pass, else portable)',
  },
  {
    name: 'route',
    type: 'list',
    placeholder: 'HOST=SERVICE',
    default: [],
    help: 'a route: HOST=SERVICE, HOST/PATH=SERVICE or /PATH=SERVICE (HOST may be *.example.com); merged with the store routes (at equal host, path and priority the flag wins); repeat or comma-separate',
    validate: (v: string[]) => v.map(routeFlagProblem).find((p) => p !== undefined),
  },
  {
    name: 'domain',
    type: 'string',
    placeholder: 'DOMAIN',
    help: 'route <service>.DOMAIN to <service> (e.g. skydns.local); off when unset',
    validate: (v: string) => (normalizeDomain(v).split('.').every(isDnsLabel) ? undefined : `expected a DNS name such as example.com, got ${JSON.stringify(v)}`),
  },
  { name: 'routes-prefix', type: 'string', placeholder: 'PREFIX', default: '/beacon/routes', help: 'store prefix of the routes applied live (one JSON value per route: see README "Routes")' },
  { name: 'default-service', type: 'string', placeholder: 'NAME', help: 'service for hosts no route or domain matches (else 404)', validate: label('default service') },
  { name: 'workers', type: 'int', default: 1, min: 1, max: 64, help: 'processes serving the listen socket (node:cluster); each follows the store itself' },
  { name: 'connect-timeout', type: 'duration', default: 2000, min: 10, help: 'time to connect to an upstream before trying another' },
  { name: 'upstream-header-timeout', type: 'duration', default: 60_000, min: 10, help: 'time for an upstream to start its response, and the longest wait for a free connection under --upstream-connections (503)' },
  { name: 'hedge-after', type: 'duration', default: 1000, min: 0, help: 'an idempotent request without a body and without a response head after max(this, 3 x the service\'s recent p99) also goes to another instance; the first answer wins; 0 = off' },
  { name: 'upstream-body-timeout', type: 'duration', default: 60_000, help: 'longest silence inside an upstream response body; 0 = none' },
  { name: 'upstream-keepalive', type: 'duration', default: 4000, min: 100, help: 'how long an idle upstream connection is kept for reuse' },
  { name: 'upstream-connections', type: 'int', default: 0, min: 0, max: 100_000, help: 'max connections per upstream instance and worker; 0 = unlimited' },
  { name: 'client-header-timeout', type: 'duration', default: 10_000, min: 100, help: 'time a client has to send the request head (slowloris guard)' },
  { name: 'client-request-timeout', type: 'duration', default: 300_000, help: 'time a client has to send the whole request including its body; 0 = none' },
  { name: 'idle-timeout', type: 'duration', default: 60_000, min: 100, help: 'how long an idle client keep-alive connection stays open' },
  { name: 'max-header-size', type: 'int', default: 16_384, min: 1024, max: 1_048_576, help: 'largest request head in bytes (431 above)' },
  { name: 'max-tries', type: 'int', default: 3, min: 1, max: 20, help: 'upstream attempts per request when connections fail (retries only what can be replayed)' },
  { name: 'max-fails', type: 'int', default: 2, min: 0, max: 1000, help: 'consecutive failures within --fail-timeout that eject an instance; 0 = never eject' },
  { name: 'fail-timeout', type: 'duration', default: 10_000, min: 100, help: 'window for --max-fails and how long an ejected instance sits out before a probe' },
  { name: 'shutdown-timeout', type: 'duration', default: 30_000, min: 0, help: 'on SIGTERM, how long in-flight requests may take to finish' },
  { name: 'access-log', type: 'bool', default: true, help: 'one JSON line per request on stdout (--no-access-log turns it off)' },
] as const satisfies readonly FlagSpec[];

/** The proxy's flags, parsed (durations in ms), with the store's: typed by the lists themselves. */
export type ProxyConfig = ConfigOf<typeof PROXY_FLAGS> & StoreConfig & TcpConfig & TlsConfig & AcmeConfig;

/** Every flag `beacon proxy` takes: HTTP, then TLS (src/proxy/tls/), ACME (src/proxy/acme/), then TCP (src/proxy/tcp/). */
export const PROXY_MODE_FLAGS: readonly FlagSpec[] = [...PROXY_FLAGS, ...TLS_FLAGS, ...ACME_FLAGS, ...TCP_FLAGS];

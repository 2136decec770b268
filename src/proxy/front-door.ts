/**
 * The contract both HTTP engines keep: a listener that serves requests through the shared
 * Traffic and stops gracefully. The engine is chosen once at start (see engine-choice.ts).
 */
import type { AddressInfo, Server, Socket } from 'node:net';

export type EngineName = 'fast' | 'portable';

export interface FrontDoor {
  readonly engine: EngineName;
  listen(host: string, port: number): Promise<AddressInfo>;
  readonly isListening: boolean;
  /** serves a connection accepted elsewhere (a decrypted TLS socket from --tls-listen) */
  accept(socket: Socket): void;
  /** serves an HTTP/2 connection (TLS, ALPN h2) */
  acceptH2(socket: import('node:tls').TLSSocket): void;
  /**
   * Graceful: stop accepting, let in-flight requests finish (closing keep-alive connections as
   * they go idle) until `deadlineMs`, then cut what is left.
   */
  stop(deadlineMs: number): Promise<{ unfinished: number }>;
}

/** What an engine is built from: the shared pieces, and how to reach upstreams. */
export interface EngineParts {
  readonly router: import('./routing.js').Router;
  readonly policy: import('./balancer.js').EjectionPolicy;
  readonly limits: import('./traffic.js').ServerLimits;
  readonly metrics: import('./metrics.js').ProxyMetrics;
  readonly log: import('../log.js').Logger;
  readonly accessLog: import('./traffic.js').AccessLog;
  /** how long an idle upstream connection is kept for reuse */
  readonly upstreamKeepAliveMs: number;
  /** max connections per upstream; 0 = unlimited */
  readonly upstreamConnections: number;
  /** plain-HTTP requests the proxy answers itself: ACME challenges, --https-redirect */
  readonly plainAnswer?: import('./tls/redirect.js').PlainRedirect;
  /** Strict-Transport-Security value for HTTPS responses (--hsts) */
  readonly hsts?: string;
  /** the port HTTPS is served on, once bound (routes' https redirects) */
  readonly httpsPort?: () => number | undefined;
}

/** A built engine: the upstream table the catalog feeds, and the front door serving it. */
export interface BuiltEngine {
  readonly table: import('./upstreams.js').UpstreamTable;
  readonly traffic: import('./traffic.js').Traffic;
  readonly front: FrontDoor;
}

/**
 * Listens on `host:port` (a failure to bind rejects); later server errors are logged as
 * `what` errors instead of taking the process down.
 */
export function listenOn(server: Server, host: string, port: number, log: import('../log.js').Logger, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err: err.message }, `${what} error`));
      resolve(server.address() as AddressInfo);
    });
  });
}

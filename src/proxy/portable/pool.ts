/** The portable engine's connection pool to one upstream address: an undici Pool. */
import { Pool } from 'undici';
import type { UpstreamPoolLike } from '../upstreams.js';

export interface PortablePoolOptions {
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** max connections; 0 = unlimited */
  connections: number;
  headersTimeoutMs: number;
  /** 0 = none */
  bodyTimeoutMs: number;
}

/** Upstream response heads may be larger than what clients may send (cookies, CSP). */
const UPSTREAM_MAX_HEADER_SIZE = 64 * 1024;

export class PortablePool implements UpstreamPoolLike {
  readonly id: string;
  readonly undici: Pool;

  constructor(id: string, options: PortablePoolOptions) {
    this.id = id;
    this.undici = new Pool(`http://${id}`, {
      connections: options.connections > 0 ? options.connections : null,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      keepAliveMaxTimeout: options.keepAliveTimeoutMs,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      maxHeaderSize: UPSTREAM_MAX_HEADER_SIZE,
      strictContentLength: true,
    });
  }

  get size(): number {
    return this.undici.stats.connected;
  }

  close(): void {
    // in-flight requests finish; undici closes idle connections
    this.undici.close().catch(() => undefined);
  }

  destroy(): void {
    this.undici.destroy().catch(() => undefined);
  }

  sweep(): void {
    // undici ages idle connections itself (keepAliveTimeout)
  }
}

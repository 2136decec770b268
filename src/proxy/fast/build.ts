/** Builds the fast engine: llhttp-parsed connections, own keep-alive pools, direct writes. */
import type { BuiltEngine, EngineParts } from '../front-door.js';
import { Traffic } from '../traffic.js';
import { UpstreamTable } from '../upstreams.js';
import { DirectWriter } from './direct-write.js';
import { FastFrontDoor } from './front-door.js';
import { UpstreamPool } from './pool.js';

/** Upstream response heads may be larger than what clients may send (cookies, CSP). */
const UPSTREAM_MAX_HEADER_SIZE = 64 * 1024;

export function buildEngine(parts: EngineParts): BuiltEngine {
  // one for both sides: it keeps a spare write request between writes
  const writer = new DirectWriter();
  const options = {
    connectTimeoutMs: parts.limits.connectTimeoutMs,
    keepAliveTimeoutMs: parts.upstreamKeepAliveMs,
    connections: parts.upstreamConnections,
    maxHeaderSize: UPSTREAM_MAX_HEADER_SIZE,
    readBuffer: Buffer.allocUnsafe(64 * 1024),
    writer,
  };
  const table = new UpstreamTable((id, host, port) => new UpstreamPool(id, host, port, options), parts.log);
  const traffic = new Traffic({ ...parts, table });
  return { table, traffic, front: new FastFrontDoor(traffic, writer) };
}

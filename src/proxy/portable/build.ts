/** Builds the portable engine: node:http for clients, an undici Pool per upstream. */
import type { BuiltEngine, EngineParts } from '../front-door.js';
import { Traffic } from '../traffic.js';
import { UpstreamTable } from '../upstreams.js';
import { PortableFrontDoor } from './front-door.js';
import { PortablePool } from './pool.js';

export function buildEngine(parts: EngineParts): BuiltEngine {
  const l = parts.limits;
  const options = {
    connectTimeoutMs: l.connectTimeoutMs,
    keepAliveTimeoutMs: parts.upstreamKeepAliveMs,
    connections: parts.upstreamConnections,
    headersTimeoutMs: l.upstreamHeaderTimeoutMs,
    bodyTimeoutMs: l.upstreamBodyTimeoutMs,
  };
  const table = new UpstreamTable((id) => new PortablePool(id, options), parts.log);
  const traffic = new Traffic({ ...parts, table });
  return { table, traffic, front: new PortableFrontDoor(traffic) };
}

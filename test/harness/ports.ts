import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/**
 * Ports are handed out below Linux's ephemeral range (32768-60999), so no `listen(0)` and no
 * outgoing connection of any process can take one between this check and the test's bind. Each
 * test process draws from its own slice (by pid), so concurrent test files do not pick the same
 * port, and a port is handed out once per process (two `freePort()` calls once returned the same
 * port: the proxy's listener then collided with its own admin endpoint).
 */
const LOW = 10_000;
const HIGH = 32_000;
const SLICES = 16;
const SLICE = Math.floor((HIGH - LOW) / SLICES);
const base = LOW + (process.pid % SLICES) * SLICE;
const handedOut = new Set<number>();
let next = Math.floor(Math.random() * SLICE);

function bindsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function bindsUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** A TCP port free on 127.0.0.1 right now (and, with `udp`, free for UDP too). */
export async function freePort(udp = false): Promise<number> {
  for (let attempt = 0; attempt < SLICE; attempt++) {
    const port = base + (next++ % SLICE);
    if (handedOut.has(port)) continue;
    if (!(await bindsTcp(port))) continue;
    if (udp && !(await bindsUdp(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${base}-${base + SLICE - 1}`);
}

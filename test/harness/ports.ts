import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/** A TCP port free on 127.0.0.1 right now (and, with `udp`, free for UDP too). */
export async function freePort(udp = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    if (!udp) return port;
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found');
}

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Reply, Responder } from './responder.js';

/** A UDP socket that answers through `responder`. `reusePort` when workers share the address. */
export async function bindUdp(host: string, port: number, reusePort: boolean, responder: Responder, onError: (err: Error) => void): Promise<UdpSocket> {
  const v6 = isIP(host) === 6;
  const socket = createSocket({
    type: v6 ? 'udp6' : 'udp4',
    reusePort,
    // replies go to the address a query came from, always an IP: skip dns.lookup and its extra tick
    lookup: ((address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void) => callback(null, address, v6 ? 6 : 4)) as never,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', onError);
  socket.on('message', (msg, rinfo) => responder.serve(msg, 'udp', rinfo.address, (reply: Reply) => socket.send(reply, rinfo.port, rinfo.address)));
  return socket;
}


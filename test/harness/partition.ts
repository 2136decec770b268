import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP forwarder on loopback that can cut the link: beacon talks to etcd through it, and a test
 * partitions beacon from etcd without stopping etcd.
 */
export class Partition {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<Partition> {
    let partition: Partition | undefined;
    const server = createServer((client) => {
      if (partition!.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, targetHost);
      for (const s of [client, upstream]) {
        partition!.sockets.add(s);
        s.on('close', () => partition!.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    partition = new Partition(server);
    return partition;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** drops every connection and refuses new ones */
  disconnect(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  reconnect(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.disconnect();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

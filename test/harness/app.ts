import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A demo app on loopback whose health endpoint can be switched between 200 and 503. */
export class ToggleApp {
  healthy = true;
  readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(name = 'app'): Promise<ToggleApp> {
    let app: ToggleApp | undefined;
    const server = createServer((req, res) => {
      if (req.url === '/health' && !app!.healthy) {
        res.writeHead(503).end('sick\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    app = new ToggleApp(server);
    return app;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

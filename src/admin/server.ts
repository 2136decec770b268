import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { parseHostPort } from '../config/address.js';

export interface AdminTarget {
  ready(): boolean;
  status(): unknown;
}

/** `/healthz`, `/readyz`, `/metrics`, `/status` for one mode. */
export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly address: string,
    private readonly target: AdminTarget,
    private readonly metrics: Registry,
  ) {}

  async start(): Promise<AddressInfo> {
    // A bare `:9100` binds loopback: admin endpoints are not for the world unless asked for.
    const { host, port } = parseHostPort(this.address, '127.0.0.1')!;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (status: number, type: string, body: string): void => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
      switch (path) {
        case '/healthz':
          return send(200, 'text/plain', 'ok\n');
        case '/readyz': {
          const ready = this.target.ready();
          return send(ready ? 200 : 503, 'text/plain', ready ? 'ready\n' : 'not ready\n');
        }
        case '/status':
          return send(200, 'application/json', `${JSON.stringify(this.target.status(), null, 2)}\n`);
        case '/metrics':
          this.metrics.metrics().then(
            (text) => send(200, this.metrics.contentType, text),
            (err: Error) => send(500, 'text/plain', `${err.message}\n`),
          );
          return;
        default:
          return send(404, 'text/plain', 'not found: try /healthz, /readyz, /metrics, /status\n');
      }
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

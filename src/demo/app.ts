import { createServer } from 'node:http';
import { hostname } from 'node:os';

/**
 * The demo's tiny app: answers every request with its name, and /health with 200. Run as its own
 * process so that `kill <pid>` shows an instance leaving.
 */
export function startDemoApp(name: string, port: number): Promise<void> {
  let served = 0;
  const server = createServer((req, res) => {
    served++;
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const body = `hello from ${name} (pid ${process.pid} on ${hostname()}, port ${port}), request #${served} ${req.method} ${req.url}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-demo-app': name }).end(body);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

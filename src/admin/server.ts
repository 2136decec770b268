import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { parseHostPort } from '../config/address.js';
import { CONTENT_SECURITY_POLICY, liveFragment, pageDocument } from './layout.js';
import { LiveState } from './live.js';
import { lookupTable } from './pages/dns.js';
import { pageFor } from './pages/index.js';
import type { ModePage } from './types.js';
import { beaconVersion } from './version.js';
import { Viewers } from './viewers.js';

export interface AdminTarget {
  ready(): boolean;
  status(): unknown;
  /** how many entries status() would list; see LiveState */
  statusSize?(): number;
  /** dns: the records at or under a name, for the page's search box (`GET /lookup?name=`) */
  lookup?(name: string): unknown;
}

/** one sample (status and counters) per tick; each viewer gets at most one update per tick */
const TICK_MS = 1000;
/** a comment on idle streams every so many ticks */
const KEEPALIVE_TICKS = 15;
const MAX_NAME = 253;

/** `/`, `/events`, `/lookup`, `/healthz`, `/readyz`, `/metrics`, `/status` for one mode. */
export class AdminServer {
  private server: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private ticks = 0;
  /** the sample being taken, if any */
  private sampling: Promise<void> | undefined;
  /** samples begun for a page being opened (each reads the status afresh) */
  private openingSamples = 0;
  private readonly page: ModePage;
  private readonly live: LiveState;
  private readonly viewers = new Viewers();
  private readonly version = beaconVersion();

  constructor(
    private readonly address: string,
    private readonly target: AdminTarget,
    private readonly metrics: Registry,
    private readonly mode = 'beacon',
  ) {
    this.page = pageFor(mode);
    this.live = new LiveState(mode, this.page, target, metrics);
  }

  async start(): Promise<AddressInfo> {
    // A bare `:9100` binds loopback: admin endpoints are not for the world unless asked for.
    const { host, port } = parseHostPort(this.address, '127.0.0.1')!;
    const server = createServer((req, res) => this.handle(req, res));
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
    // the first sample now: it is the baseline changes are noticed against ("Recent changes"),
    // else whatever changed in the first second (a deregistration, an ejection) never shows
    void this.tick();
    this.ticker = setInterval(() => void this.tick(), TICK_MS);
    this.ticker.unref();
    return server.address() as AddressInfo;
  }

  /**
   * A page or stream being opened shows the mode as it is now: a sample that reads the status
   * afresh and began after the request arrived (one already under way may predate, say, the first
   * sync, and a periodic one may reuse the last status). Requests arriving together share one.
   */
  private async freshen(): Promise<void> {
    const seen = this.openingSamples;
    while (this.sampling !== undefined) await this.sampling;
    if (this.openingSamples > seen) return;
    await this.tick(true);
  }

  /** `opening`: a page or its event stream is being opened (it counts as watched, and the status is read afresh) */
  private tick(opening = false): Promise<void> {
    if (this.sampling !== undefined) return this.sampling;
    if (opening) this.openingSamples++;
    this.sampling = (async () => {
      try {
        await this.live.sample(opening || this.viewers.size > 0, opening);
        if (this.viewers.size > 0) this.viewers.broadcast(liveFragment(this.page, this.live.view()).text);
        if (++this.ticks % KEEPALIVE_TICKS === 0) this.viewers.keepalive();
      } catch {
        // a status() that throws mid-restart: the next tick tries again
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    // URL.parse, not new URL: a request target such as `http://[` must get a 400, not throw out
    // of the request handler (an uncaught exception ends the whole process, not the request)
    const url = URL.parse(req.url ?? '/', 'http://admin');
    if (url === null) return send(400, 'text/plain', 'bad request target\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (url.pathname) {
      // a page being opened shows the mode as it is now (e.g. just after its first sync), from a
      // real sample, so what it shows and what the next updates say stay one story
      case '/':
        void this.freshen().then(() => send(200, 'text/html; charset=utf-8', this.document(url), { 'content-security-policy': CONTENT_SECURITY_POLICY, 'referrer-policy': 'no-referrer' }));
        return;
      case '/events':
        void this.freshen().then(() => this.events(req, res));
        return;
      case '/lookup': {
        if (!this.target.lookup) return send(404, 'text/plain', `${this.mode} has no lookup\n`);
        const name = url.searchParams.get('name') ?? '';
        if (name.length === 0 || name.length > MAX_NAME) return send(400, 'text/plain', `name must be 1-${MAX_NAME} characters\n`);
        const result = this.target.lookup(name);
        if (url.searchParams.get('format') === 'html') return send(200, 'text/html; charset=utf-8', lookupTable(result).text);
        return send(200, 'application/json', `${JSON.stringify(result, null, 2)}\n`);
      }
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
        return send(404, 'text/plain', 'not found: try /, /healthz, /readyz, /metrics, /status\n');
    }
  }

  private document(url: URL): string {
    const name = url.searchParams.get('name')?.slice(0, MAX_NAME);
    const search = this.page.search && name !== undefined ? { value: name, ...(name && this.target.lookup ? { results: lookupTable(this.target.lookup(name)) } : {}) } : undefined;
    return pageDocument({ mode: this.mode, version: this.version, page: this.page, view: this.live.view(), ...(search ? { search } : {}) });
  }

  private events(req: IncomingMessage, res: ServerResponse): void {
    const headers = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers).end();
      return;
    }
    if (this.viewers.full) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end('too many viewers\n');
      return;
    }
    res.writeHead(200, headers);
    res.write('retry: 2000\n\n');
    const remove = this.viewers.add(res, liveFragment(this.page, this.live.view()).text)!;
    res.on('close', remove);
    req.socket.setKeepAlive(true, 10_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    this.viewers.closeAll();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/**
 * --tls-listen: terminates TLS and hands each decrypted connection to the HTTP engine's own
 * connection handling (`accept`), so HTTPS meets the same parsing, admission, Traffic, pools,
 * retries, limits, access log and metrics as plain HTTP. SNI picks the certificate from the
 * CertificateStore at each handshake; a connection keeps the certificate it shook hands with.
 * ALPN `h2` goes to `acceptH2` when the engine serves HTTP/2.
 */
import { listenOn } from '../front-door.js';
import { createSecureContext, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../log.js';
import { TLS_CIPHERS, TLS_MAX_VERSION, TLS_MIN_VERSION, type CertificateStore } from './cert-store.js';
import type { TlsMetrics } from './metrics.js';

/** a client that has not finished its handshake in this time is dropped */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsListenerDeps {
  store: CertificateStore;
  metrics: TlsMetrics;
  log: Logger;
  /** an HTTP/1.1 connection, decrypted */
  accept(socket: Socket): void;
  /** an HTTP/2 connection (ALPN h2); when absent only http/1.1 is offered */
  acceptH2?: (socket: TLSSocket) => void;
}

export class TlsListener {
  private readonly server: Server;
  private readonly open = new Set<TLSSocket>();
  private listening = false;

  constructor(private readonly deps: TlsListenerDeps) {
    const { store, metrics } = deps;
    // A name no certificate serves gets a context without one: OpenSSL then ends the handshake
    // with a handshake_failure alert (an error from the callback would just drop the connection).
    const noCertificate = createSecureContext({ minVersion: TLS_MIN_VERSION, maxVersion: TLS_MAX_VERSION, ciphers: TLS_CIPHERS });
    this.server = createServer({
      minVersion: TLS_MIN_VERSION,
      maxVersion: TLS_MAX_VERSION,
      ciphers: TLS_CIPHERS,
      ALPNProtocols: deps.acceptH2 ? ['h2', 'http/1.1'] : ['http/1.1'],
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      noDelay: true,
      allowHalfOpen: true,
      SNICallback: (servername, cb) => {
        const served = store.select(servername);
        cb(null, served === undefined ? noCertificate : served.context);
      },
    });
    // clients without SNI get the default certificate (the server's own context), or none
    this.useDefault();
    store.onChange(() => this.useDefault());
    this.server.on('secureConnection', (socket: TLSSocket) => {
      metrics.handshake('ok');
      this.open.add(socket);
      socket.once('close', () => this.open.delete(socket));
      if (socket.alpnProtocol === 'h2' && deps.acceptH2) deps.acceptH2(socket);
      else deps.accept(socket);
    });
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      // every served context shares its suites with any TLS 1.2+ client: no shared cipher means no certificate
      const noCert = /no shared cipher|no suitable signature/i.test(err.message);
      metrics.handshake(noCert ? 'no_certificate' : 'error');
      deps.log.debug({ client: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  private useDefault(): void {
    const fallback = this.deps.store.fallback;
    const base = { minVersion: TLS_MIN_VERSION, maxVersion: TLS_MAX_VERSION, ciphers: TLS_CIPHERS } as const;
    this.server.setSecureContext(fallback === undefined ? base : { ...base, cert: fallback.cert.pair.cert, key: fallback.cert.pair.key });
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const where = await listenOn(this.server, host, port, this.deps.log, 'TLS listener');
    this.listening = true;
    return where;
  }

  get isListening(): boolean {
    return this.listening;
  }

  /** Stops accepting; the connections already handed over are the engine's to finish. */
  close(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Connections still open when the engine has stopped (h2 sessions, handshakes in progress). */
  destroyAll(): void {
    for (const s of this.open) s.destroy();
  }
}

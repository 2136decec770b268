// TLS clients for the proxy's --tls-listen tests: node:https with a chosen SNI name, curl and openssl.
import { execFile } from 'node:child_process';
import { request, type Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface TlsReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** SHA-256 fingerprint of the certificate the proxy presented */
  fingerprint: string;
  /** the connection was used before (keep-alive) */
  reused: boolean;
}

/** One HTTPS request to 127.0.0.1:port with SNI `servername`, verified against `ca`. */
export function tlsRequest(
  port: number,
  opts: { servername: string; ca: string; host?: string; path?: string; method?: string; body?: Buffer; agent?: Agent; headers?: Record<string, string> },
): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: opts.servername,
        ca: opts.ca,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { host: opts.host ?? opts.servername, ...opts.headers },
        agent: opts.agent ?? false,
        timeout: 10_000,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString(), fingerprint, reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function run(cmd: string, args: readonly string[], input?: string, timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/** `openssl s_client -servername NAME`: the subject the proxy presented, or the handshake's failure. */
export async function sClient(port: number, servername: string | undefined): Promise<{ ok: boolean; subject: string; output: string }> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-brief', ...(servername === undefined ? ['-noservername'] : ['-servername', servername])];
  const r = await run('openssl', args, 'Q\n');
  const output = r.stdout + r.stderr;
  const subject = /Peer certificate: (.*)/.exec(output)?.[1] ?? '';
  return { ok: /CONNECTION ESTABLISHED/.test(output), subject, output };
}

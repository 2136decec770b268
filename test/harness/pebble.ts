// A real pebble (Let's Encrypt's test CA, Debian `pebble`) on loopback: its own HTTPS certificate
// from a throwaway CA (makeCerts), HTTP-01 validated against `httpPort`, names resolved by the
// DNS server at `dnsPort`. Installed through test/setup.mjs's ensurePackages when missing (as
// root), else the run fails naming the package.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCerts } from './certs.ts';
import { freePort } from './ports.ts';
import { spawnTracked, type Tracked } from './procs.ts';
import { waitFor } from './wait.ts';

export const PEBBLE_PACKAGES = [['pebble', 'pebble']];

export interface Pebble {
  /** the ACME directory URL */
  directory: string;
  /** PEM of the CA pebble's own HTTPS certificate is issued by (for --acme-ca) */
  caFile: string;
  process: Tracked;
  /** PEM of pebble's root and intermediate for issued certificates (management API) */
  root(): Promise<string>;
  intermediate(): Promise<string>;
  stop(): Promise<void>;
}

function get(url: string, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('pebble did not answer')));
    req.on('error', reject);
    req.end();
  });
}

export async function startPebble(options: { httpPort: number; dnsPort: number; validitySeconds?: number }): Promise<Pebble> {
  const setup = '../setup.mjs';
  const { ensurePackages } = (await import(setup)) as { ensurePackages(needed: string[][]): void };
  ensurePackages(PEBBLE_PACKAGES);
  const certs = makeCerts();
  const dir = mkdtempSync(join(tmpdir(), 'beacon-pebble-'));
  const port = await freePort();
  const management = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: certs.serverCert,
      privateKey: certs.serverKey,
      httpPort: options.httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
    },
  };
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify(config));
  const env = {
    ...process.env,
    // validate at once, accept every nonce, and validate every order anew (no authorization reuse)
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    PEBBLE_AUTHZREUSE: '0',
  };
  const child = spawnTracked('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${options.dnsPort}`], { env, cwd: dir });
  const ca = readFileSync(certs.ca, 'utf8');
  const directory = `https://127.0.0.1:${port}/dir`;
  try {
    await waitFor('pebble directory', async () => ((await get(directory, ca).catch(() => undefined))?.status === 200) || undefined, 20_000, 100);
  } catch (err) {
    await child.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- pebble output ---\n${child.output().slice(-3000)}`);
  }
  const pem = async (path: string): Promise<string> => {
    const r = await get(`https://127.0.0.1:${management}${path}`, ca);
    if (r.status !== 200) throw new Error(`pebble ${path}: ${r.status}`);
    return r.text;
  };
  return {
    directory,
    caFile: certs.ca,
    process: child,
    root: () => pem('/roots/0'),
    intermediate: () => pem('/intermediates/0'),
    async stop() {
      await child.stop('SIGTERM', 5000);
      rmSync(dir, { recursive: true, force: true });
      rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}

/** `beacon tls put NAME`: validates a pair and writes it (key sealed with --seal-key) to the store. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import type { ModeContext, RunningMode } from '../../mode.js';
import { validatePair } from './certs.js';
import type { TlsPutConfig } from './command.js';
import { readSealKey, tlsValue } from './seal.js';

export class TlsPut implements RunningMode {
  private resolveFinished!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.resolveFinished = resolve));
  private readonly key: string;
  private readonly value: string;

  constructor(
    name: string,
    private readonly config: TlsPutConfig,
    private readonly ctx: ModeContext,
  ) {
    const read = (flag: string, file: string): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(flag, `cannot read ${JSON.stringify(file)}: ${(err as Error).message}`);
      }
    };
    const pair = { cert: read('--cert', config.cert!), key: read('--key', config.key!) };
    const valid = validatePair(name, 'put', pair, Date.now());
    if (!valid.ok) throw new UsageError(/key/.test(valid.reason) ? '--key' : '--cert', valid.reason);
    const sealKey = readSealKey(config.sealKey, '--seal-key');
    const prefix = config.tlsPrefix.endsWith('/') ? config.tlsPrefix : `${config.tlsPrefix}/`;
    this.key = `${prefix}${name}`;
    this.value = tlsValue(pair, sealKey);
    this.hosts = valid.cert.hosts;
    this.notAfter = valid.cert.notAfter.toISOString();
  }

  private readonly hosts: readonly string[];
  private readonly notAfter: string;

  async start(): Promise<void> {
    const timer = setTimeout(() => {
      this.ctx.log.error({ store: this.ctx.store().description, timeoutMs: this.config.timeout }, 'store did not answer');
      this.resolveFinished(1);
    }, this.config.timeout);
    timer.unref();
    try {
      await this.ctx.store().put(this.key, this.value);
      this.ctx.stdout.write(`${this.key}: ${this.hosts.join(', ')} until ${this.notAfter}${this.config.sealKey === undefined ? '' : ' (key sealed)'}\n`);
      this.resolveFinished(0);
    } catch (err) {
      this.ctx.log.error({ key: this.key, err: (err as Error).message }, 'cannot write the certificate');
      this.resolveFinished(1);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  ready(): boolean {
    return true;
  }

  status(): unknown {
    return { key: this.key };
  }
}

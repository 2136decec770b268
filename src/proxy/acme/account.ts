/**
 * The ACME account key every proxy shares: `<acme-prefix>-account/<hash of the directory URL>`
 * (default `/beacon/acme-account/...`) =
 * `{"directory", "key"}`, or `"sealedKey"` (tls/seal.ts) when --tls-seal-key is set. Made by the
 * first lock holder that finds none; a value it cannot read is an error, never overwritten (that
 * would split the proxies over two accounts).
 */
import { createHash } from 'node:crypto';
import type { Store } from '../../store/store.js';
import { seal, unseal } from '../tls/seal.js';

/** `/beacon/acme` -> `/beacon/acme-account/<first 16 hex of SHA-256(directory)>` */
export function accountKeyName(acmePrefix: string, directory: string): string {
  return `${acmePrefix.replace(/\/+$/, '')}-account/${createHash('sha256').update(directory).digest('hex').slice(0, 16)}`;
}

export class AccountKeyError extends Error {
  override readonly name = 'AccountKeyError';
}

/** The key from a stored value, or why it is unusable. */
export function parseAccountValue(text: string, sealKey: Buffer | undefined): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new AccountKeyError('not JSON');
  }
  if (typeof v !== 'object' || v === null) throw new AccountKeyError('not a JSON object');
  const value = v as Record<string, unknown>;
  if (typeof value.key === 'string') return value.key;
  if (typeof value.sealedKey !== 'string') throw new AccountKeyError('neither "key" nor "sealedKey" given');
  if (sealKey === undefined) throw new AccountKeyError('the key is sealed and no --tls-seal-key is set');
  return unseal(value.sealedKey, sealKey);
}

export function accountValue(directory: string, key: string, sealKey: Buffer | undefined): string {
  return JSON.stringify(sealKey === undefined ? { directory, key } : { directory, sealedKey: seal(key, sealKey) });
}

/** Reads the shared account key, or makes and stores one with `create` when there is none. */
export async function loadAccountKey(store: Store, name: string, directory: string, sealKey: Buffer | undefined, create: () => Promise<string>): Promise<{ key: string; created: boolean }> {
  const found = (await store.read([name])).kvs.find((kv) => kv.key === name);
  if (found !== undefined) {
    try {
      return { key: parseAccountValue(found.value, sealKey), created: false };
    } catch (err) {
      throw new AccountKeyError(`${name}: ${(err as Error).message}`);
    }
  }
  const key = await create();
  await store.put(name, accountValue(directory, key, sealKey));
  return { key, created: true };
}

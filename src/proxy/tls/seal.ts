/**
 * Sealed private keys: AES-256-GCM with the key SHA-256(bytes of the --tls-seal-key file).
 * `sealedKey` is base64 of IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes); a reader of the store
 * without the file gets no private key, and a changed or wrong secret fails the tag check.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import type { CertPair } from './certs.js';

const IV = 12;
const TAG = 16;

export class SealError extends Error {
  override readonly name = 'SealError';
}

/** The AES key for the contents of a seal-key file. */
export function sealKeyFrom(secret: Uint8Array): Buffer {
  if (secret.length === 0) throw new SealError('the seal key file is empty');
  return createHash('sha256').update(secret).digest();
}

export function seal(plain: string, key: Buffer): string {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

export function unseal(sealed: string, key: Buffer): string {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < IV + TAG + 1) throw new SealError('sealedKey is too short to be sealed data');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV));
  decipher.setAuthTag(raw.subarray(raw.length - TAG));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV, raw.length - TAG)), decipher.final()]).toString('utf8');
  } catch {
    throw new SealError('sealedKey does not open with this --tls-seal-key (another secret, or altered data)');
  }
}

/**
 * An etcd `/beacon/tls/<name>` value: `{"cert", "key"}` or `{"cert", "sealedKey"}`. Returns the
 * pair or what is wrong with the value.
 */
export function parseTlsValue(text: string, sealKey: Buffer | undefined): CertPair | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
  const v = value as Record<string, unknown>;
  if (typeof v.cert !== 'string') return { error: '"cert" (PEM chain) missing' };
  if (typeof v.key === 'string') return { cert: v.cert, key: v.key };
  if (typeof v.sealedKey !== 'string') return { error: 'neither "key" nor "sealedKey" given' };
  if (sealKey === undefined) return { error: 'the key is sealed and no --tls-seal-key is set' };
  try {
    return { cert: v.cert, key: unseal(v.sealedKey, sealKey) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The value `beacon tls put` writes: sealed when a key is given. */
export function tlsValue(pair: CertPair, sealKey: Buffer | undefined): string {
  return JSON.stringify(sealKey === undefined ? { cert: pair.cert, key: pair.key } : { cert: pair.cert, sealedKey: seal(pair.key, sealKey) });
}

/** The AES key from --tls-seal-key, read once; a missing file is a usage error (exit 2). */
export function readSealKey(file: string | undefined, flag = '--tls-seal-key'): Buffer | undefined {
  if (file === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(flag, `cannot read ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
  if (bytes.length === 0) throw new UsageError(flag, `${JSON.stringify(file)} is empty`);
  return sealKeyFrom(bytes);
}

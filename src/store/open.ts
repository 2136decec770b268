import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEndpoint } from '../config/address.js';
import { UsageError } from '../errors.js';
import { EtcdStore, type EtcdOptions } from './etcd.js';
import { FileStore } from './file.js';
import type { Store } from './store.js';

export interface StoreFlags {
  store: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
}

export type StoreLocation = { kind: 'etcd'; endpoints: string[] } | { kind: 'file'; dir: string };

/** `etcd://h1:2379,h2:2379` or `file:///abs/dir`. */
export function parseStoreUrl(url: string): StoreLocation {
  const bad = (why: string): never => {
    throw new UsageError('--store', `${why}; expected etcd://HOST:PORT[,HOST:PORT...] or file:///ABSOLUTE/DIR, got ${JSON.stringify(url)}`);
  };
  if (url.startsWith('etcd://')) {
    const endpoints = url.slice('etcd://'.length).replace(/\/+$/, '').split(',').map((e) => e.trim());
    for (const e of endpoints) {
      if (!parseEndpoint(e)) bad(`bad endpoint ${JSON.stringify(e)}`);
    }
    return { kind: 'etcd', endpoints };
  }
  if (url.startsWith('file://')) {
    let dir: string;
    try {
      dir = fileURLToPath(url);
    } catch {
      return bad('not a file URL');
    }
    if (!isAbsolute(dir)) bad('the directory must be absolute');
    return { kind: 'file', dir: dir.replace(/\/+$/, '') || '/' };
  }
  return bad('unknown scheme');
}

export function openStore(flags: StoreFlags): Store {
  const location = parseStoreUrl(flags.store);
  if (location.kind === 'file') return new FileStore(location.dir);
  const options: EtcdOptions = { endpoints: location.endpoints };
  if (flags.etcdCa) options.ca = flags.etcdCa;
  if (flags.etcdCert) options.cert = flags.etcdCert;
  if (flags.etcdKey) options.key = flags.etcdKey;
  if (flags.etcdUser) options.user = flags.etcdUser;
  if (flags.etcdPassword) options.password = flags.etcdPassword;
  return new EtcdStore(options);
}

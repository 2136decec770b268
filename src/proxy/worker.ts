// Entry point of a `beacon proxy --workers N` cluster worker (forked by ProxyPrimary).
import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import type { StoreConfig } from '../config/common.js';
import { describeCause } from '../errors.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { MESSAGE_TAG, type PrimaryMessage, type WorkerMessage } from './cluster.js';
import type { ProxyConfig } from './config.js';
import { ProxyEngine } from './engine.js';

const STATUS_EVERY_MS = 500;

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

/** Says hello and waits for the primary's config (which holds secrets: never the environment). */
function receiveConfig(): Promise<{ config: ProxyConfig; index: number }> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: PrimaryMessage): void => {
      if (!msg || msg.tag !== MESSAGE_TAG) return;
      if (msg.kind === 'stop') process.exit(0);
      if (msg.kind !== 'config') return;
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve({ config: msg.config, index: msg.index });
    };
    const onDisconnect = (): void => reject(new Error('the primary went away before sending the config'));
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
    send({ tag: MESSAGE_TAG, kind: 'hello' });
  });
}

async function runWorker(): Promise<void> {
  const { config, index } = await receiveConfig();
  const log = createLogger((config.logLevel ?? 'info') as 'info', { mode: 'proxy', worker: index });
  const store = openStore(config as StoreConfig);
  const registry = new Registry();
  const engine = new ProxyEngine({ config, store, log, metrics: registry });

  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      log.debug({ reason }, 'worker stopping');
      clearInterval(ticker);
      let code = 0;
      try {
        await engine.stop();
      } catch (err) {
        log.error({ err: describeCause(err) }, 'error while stopping');
        code = 1;
      }
      await store.close().catch(() => undefined);
      process.exit(code);
    })());

  process.on('message', (msg: PrimaryMessage) => {
    if (!msg || msg.tag !== MESSAGE_TAG) return;
    if (msg.kind === 'config') return;
    if (msg.kind === 'stop') void stop('primary asked');
    else if (msg.kind === 'metrics') {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ tag: MESSAGE_TAG, kind: 'metrics', id: msg.id, metrics: metrics as never }),
        () => send({ tag: MESSAGE_TAG, kind: 'metrics', id: msg.id, metrics: [] }),
      );
    }
  });
  // The primary drives shutdown; a signal sent to the whole group (Ctrl-C) or a lost primary
  // ends this worker gracefully too.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('disconnect', () => void stop('primary gone'));

  const ticker = setInterval(() => send({ tag: MESSAGE_TAG, kind: 'status', status: engine.status() }), STATUS_EVERY_MS);
  ticker.unref();

  try {
    await engine.start();
  } catch (err) {
    send({ tag: MESSAGE_TAG, kind: 'failed', error: describeCause(err) });
    log.fatal({ err: describeCause(err) }, 'worker failed to start');
    await store.close().catch(() => undefined);
    process.exit(1);
  }
  send({ tag: MESSAGE_TAG, kind: 'up', status: engine.status() });
}

if (cluster.isWorker) {
  runWorker().catch((err: unknown) => {
    console.error(`beacon proxy worker: ${describeCause(err)}`);
    process.exit(1);
  });
}

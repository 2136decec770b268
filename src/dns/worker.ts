/**
 * A UDP worker thread: one more socket on the dns address (SO_REUSEPORT), answering from its own
 * copy of the index. The main thread sends every new view, the keys changed since, and the lease expiries; the worker
 * sends its counters back every second.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { leaseSecondsAt } from '../catalog/leases.js';
import { Stats } from './metrics.js';
import { SkyIndex } from './records.js';
import { Responder } from './responder.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';
import { bindUdp } from './udp.js';
import { pollUntil } from '../wait.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const log = createLogger(init.logLevel as 'info', { mode: 'dns', worker: init.id });
const stats = new Stats();
let expiry = new Map<string, number>();
const responder = new Responder(init.settings, stats, log, (id, now) => leaseSecondsAt(expiry.get(id), now));
let socket: UdpSocket | undefined;
let binding = false;
let stopping = false;

const post = (m: FromWorker): void => port.postMessage(m);
const timer = setInterval(() => post({ type: 'stats', stats: stats.snapshot() }), 1000);
timer.unref();

async function listen(): Promise<void> {
  binding = true;
  try {
    socket = await bindUdp(init.listen.host, init.listen.port, true, responder, (err) => log.error({ err: err.message }, 'udp socket error'));
    if (stopping) await close();
    else post({ type: 'listening' });
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
  }
}

async function close(): Promise<void> {
  const s = socket;
  socket = undefined;
  if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'view':
      responder.update({ index: new SkyIndex(m.entries, init.prefix), settings: m.settings, synced: m.synced, stale: m.stale });
      if (m.synced && !binding && !stopping) void listen();
      break;
    case 'changes': {
      const index = responder.index;
      const touched: (readonly string[])[] = [];
      for (const [key, entry] of m.changes) {
        const segments = entry ? index.put(entry) : index.remove(key);
        if (segments) touched.push(segments);
      }
      if (m.settings) responder.update({ settings: m.settings });
      else responder.changed(touched);
      break;
    }
    case 'stale':
      responder.update({ stale: m.stale });
      break;
    case 'leases':
      expiry = new Map(m.expiry);
      responder.invalidate();
      break;
    case 'stop': {
      stopping = true;
      void (async () => {
        await pollUntil(() => responder.inflight === 0, Date.now() + 2000);
        await close();
        post({ type: 'stats', stats: stats.snapshot() });
        clearInterval(timer);
        port.close();
      })();
      break;
    }
  }
});

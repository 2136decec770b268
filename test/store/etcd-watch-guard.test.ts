import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { guardWatchManager } from '../../src/store/etcd-watch-guard.ts';

interface Manager {
  watchers: EventEmitter[];
  state: number;
  handleResponse(res: unknown): void;
  handleCreatedResponse(res: unknown): void;
}
type ManagerClass = new (client: unknown, backoff: unknown) => Manager;

const { WatchManager } = createRequire(import.meta.url)('etcd3/lib/watch.js') as { WatchManager: ManagerClass };
// re-establishing asks a client whose watch() never answers: the stream stays 'connecting'
const backoff = { duration: 1, next() { return this; } };

function manager(): { m: Manager; disconnects: Error[] } {
  const m = new WatchManager({ watch: () => new Promise(() => undefined) }, backoff);
  const watcher = new EventEmitter() as EventEmitter & { id: string | null };
  watcher.id = '1';
  const disconnects: Error[] = [];
  watcher.on('disconnected', (err: Error) => disconnects.push(err));
  m.watchers = [watcher];
  return { m, disconnects };
}

test('etcd3 unguarded: a response for a watcher it no longer lists throws (the crash the guard is for)', () => {
  const { m } = manager();
  assert.throws(() => m.handleResponse({ watch_id: '99', events: [] }), /Failed to find watcher/);
});

test('guarded etcd3: that response resets the stream instead (watchers hear disconnected, nothing throws)', (t) => {
  const proto = WatchManager.prototype as unknown as Record<string | symbol, unknown>;
  const originals = { handleResponse: proto.handleResponse, handleCreatedResponse: proto.handleCreatedResponse };
  t.after(() => {
    Object.assign(proto, originals);
    delete proto[Symbol.for('beacon.etcd3-watch-guard')];
  });
  assert.equal(guardWatchManager(), 'installed');
  assert.equal(guardWatchManager(), 'already');

  const unknownWatcher = manager();
  assert.doesNotThrow(() => unknownWatcher.m.handleResponse({ watch_id: '99', events: [] }));
  assert.equal(unknownWatcher.disconnects.length, 1);
  assert.match(unknownWatcher.disconnects[0]!.message, /Failed to find watcher/);

  // "canceled" on create with no watcher waiting for an id: the other throw in the same handler
  const noPending = manager();
  assert.doesNotThrow(() => noPending.m.handleCreatedResponse({ created: true, canceled: true, cancel_reason: 'x' }));
  assert.equal(noPending.disconnects.length, 1);

  // a watcher that is listed still gets its data
  const known = manager();
  const got: unknown[] = [];
  known.m.watchers[0]!.on('data', (res) => got.push(res));
  known.m.handleResponse({ watch_id: '1', events: [] });
  assert.equal(got.length, 1);
  assert.equal(known.disconnects.length, 0);
});

test('guardWatchManager leaves a manager it does not recognise alone', () => {
  assert.equal(guardWatchManager({}), 'unavailable');
  assert.equal(guardWatchManager({ handleResponse: () => undefined, handleError: () => undefined }), 'unavailable');
});

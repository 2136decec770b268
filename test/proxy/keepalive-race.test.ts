// The keep-alive race (issue 13): an instance closes an idle pooled connection just as the proxy
// reuses it (Apache's 5 s keep-alive timeout does this every day). The request never reached it:
// it is replayed on a new connection, the client sees no error, and the instance is not ejected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../dist/store/file.js';
import { send, startProxy } from './fixtures.ts';

/** Answers the first request of each connection, then closes it when a second one arrives. */
async function oneShotUpstream(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let served = 0;
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      while (text.includes('\r\n\r\n')) {
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
        if (served++ === 0) socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nanswered${connections % 10}`);
        else socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a request on a pooled connection the upstream closed is replayed on a new one: no 502, no ejection', { timeout: 30_000 }, async (t) => {
  const upstream = await oneShotUpstream();
  t.after(() => upstream.close());
  const dir = mkdtempSync(join(tmpdir(), 'beacon-race-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', `127.0.0.1:${upstream.port}`);
  await store.close();
  const proxy = await startProxy(`file://${dir}`, ['--default-service', 'web', '--max-fails', '1', '--no-access-log']);
  t.after(() => proxy.beacon.stop('SIGKILL'));
  for (let i = 0; i < 6; i++) {
    const reply = await send(proxy.port, { path: `/r${i}` });
    assert.equal(reply.status, 200, `request ${i}: ${reply.text} ${JSON.stringify(proxy.beacon.logs().slice(-4))}`);
    assert.match(reply.text, /^answered/);
  }
  assert.ok(upstream.connections() >= 6, `every request needed a connection of its own (${upstream.connections()})`);
  const metrics = await proxy.metrics();
  assert.doesNotMatch(metrics, /beacon_proxy_ejections_total\{service="web"\} [1-9]/);
  const status = await proxy.status();
  assert.equal((status.services as Record<string, { state: string }[]>).web![0]!.state, 'up');
});

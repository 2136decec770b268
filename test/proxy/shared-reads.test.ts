// Client reads share one buffer per process: nothing a connection keeps past a read (body
// chunks, pipelined bytes, a WebSocket's first bytes) may be overwritten by another
// connection's next read. Many connections at once push bodies and pipelined requests through
// the proxy in small interleaved pieces; every body must reach the upstream intact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../dist/store/file.js';
import { SharedReads } from '../../dist/proxy/fast/shared-reads.js';
import { DirectWriter } from '../../dist/proxy/fast/direct-write.js';
import { blobChunk, converse, startProxy, startUpstream, type ProxyUnderTest, type Upstream } from './fixtures.ts';
import { prng } from '../harness/prng.ts';

let upstream: Upstream;
let proxy: ProxyUnderTest;
let storeDir: string;

before(async () => {
  upstream = await startUpstream('u');
  storeDir = mkdtempSync(join(tmpdir(), 'beacon-shared-reads-'));
  const store = new FileStore(storeDir);
  await store.put('/services/app/u', `127.0.0.1:${upstream.port}`);
  await store.close();
  proxy = await startProxy(`file://${storeDir}`, ['--default-service', 'app', '--no-access-log']);
});

after(async () => {
  await proxy?.beacon.stop();
  await upstream?.close();
  rmSync(storeDir, { recursive: true, force: true });
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('the pinned Node.js gives the proxy its shared reads and direct writes (else both fall back)', () => {
  if (!process.versions.node.startsWith('24.')) return;
  assert.equal(new SharedReads().shared, true, 'Node 24 accepted sockets take onread fields');
  assert.equal(new DirectWriter().direct, true, 'Node 24 offers the stream_wrap binding');
});

test('12 connections at once, bodies and pipelined requests in interleaved pieces: every body arrives intact, in order', { timeout: 60_000 }, async () => {
  const random = prng(0x5ead);
  const conversations = [];
  const expected: string[][] = [];
  for (let c = 0; c < 12; c++) {
    const a = blobChunk(c * 7919, 20_000 + Math.floor(random() * 150_000));
    const b = blobChunk(c * 104_729 + 3, 5_000 + Math.floor(random() * 60_000));
    const third = Math.floor(b.length / 3);
    const wire = Buffer.concat([
      Buffer.from(`POST /hash HTTP/1.1\r\nHost: app\r\nContent-Length: ${a.length}\r\n\r\n`),
      a,
      Buffer.from('POST /hash HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...[b.subarray(0, third), b.subarray(third, 2 * third), b.subarray(2 * third)].flatMap((part) => [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]),
      Buffer.from('0\r\n\r\nGET /last HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n'),
    ]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < wire.length; ) {
      const size = 1 + Math.floor(random() * 16_384);
      pieces.push(wire.subarray(at, at + size));
      at += size;
    }
    expected.push([sha(a), String(a.length), sha(b), String(b.length)]);
    conversations.push(converse(proxy.port, pieces, 1, 50_000));
  }
  const results = await Promise.all(conversations);
  for (const [c, { text }] of results.entries()) {
    const bodies = [...text.matchAll(/\{"sha256":"([0-9a-f]+)","size":(\d+)\}/g)].map((m) => [m[1]!, m[2]!]);
    assert.equal(bodies.length, 2, `connection ${c}: two hash replies in ${JSON.stringify(text.slice(0, 300))}`);
    assert.deepEqual(bodies.flat(), expected[c], `connection ${c}: bodies as sent`);
    assert.match(text, /\r\n\r\n1\r\nu\r\n0\r\n\r\n$/, `connection ${c}: the pipelined GET answered last`);
  }
});

for (const enabled of [true, false]) {
  test(`SharedReads (${enabled ? 'shared' : 'fallback'}): reads reach onData; after release the socket reads as a stream, bytes intact`, { timeout: 20_000 }, async (t) => {
    const reads = new SharedReads(1024, enabled);
    const server = createServer({ pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const accepted = once(server, 'connection');
    const client = connect(port, '127.0.0.1');
    const [socket] = (await accepted) as [Socket];
    t.after(() => {
      client.destroy();
      socket.destroy();
      server.close();
    });
    // before release: copies of what onData saw (the view is only valid during the call)
    let seen = '';
    const gotFirst = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString('latin1');
        if (seen.endsWith('END1')) {
          reads.release(socket, onData);
          resolve();
        }
      };
      reads.start(socket, onData);
    });
    client.write(`${'a'.repeat(5000)}END1`);
    await gotFirst;
    assert.equal(seen, `${'a'.repeat(5000)}END1`);
    // after release, as a stream: a pipe into a collector (larger than the shared buffer)
    const rest = blobChunk(1, 200_000);
    const collected: Buffer[] = [];
    socket.on('data', (c: Buffer) => collected.push(c));
    client.end(rest);
    await once(socket, 'end');
    assert.ok(Buffer.concat(collected).equals(rest), 'every byte after the release, in order');
  });
}

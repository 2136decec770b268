// Direct writes keep socket.write's contract: bytes in order with Writable writes mixed in,
// false and then 'drain' when the kernel does not take a write whole, errors destroy the
// socket, and without the binding every write is a plain socket.write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { DirectWriter } from '../../dist/proxy/fast/direct-write.js';

/** A connected pair on loopback: `a` writes, `b` is the peer (paused: nothing read yet). */
async function pair(t: { after(fn: () => unknown): void }): Promise<{ a: Socket; b: Socket }> {
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection');
  const a = connect({ port, host: '127.0.0.1' });
  await once(a, 'connect');
  const [b] = (await accepted) as [Socket];
  t.after(() => {
    a.destroy();
    b.destroy();
    server.close();
  });
  return { a, b };
}

function readAll(b: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    b.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= bytes) resolve(Buffer.concat(chunks));
    });
    b.on('error', reject);
    b.resume();
  });
}

for (const enabled of [true, false]) {
  const name = enabled ? 'direct' : 'fallback';

  test(`${name}: a peer that does not read gets false, then 'drain', and every byte in order`, { timeout: 20_000 }, async (t) => {
    const writer = new DirectWriter(enabled);
    assert.equal(writer.direct, enabled);
    const { a, b } = await pair(t);
    // strings and buffers, small and large, until the kernel's buffers are full
    const sent: Buffer[] = [];
    let full = false;
    for (let i = 0; i < 400 && !full; i++) {
      const piece = i % 2 === 0 ? `${i}:${'s'.repeat(1000 + i)}\n` : Buffer.alloc(64 * 1024 + i, 65 + (i % 26));
      sent.push(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
      full = !writer.write(a, piece);
    }
    assert.ok(full, 'a peer that reads nothing fills the buffers');
    // stream writes while the direct one is queued (the second waits inside the Writable),
    // then one more through the writer: it must not overtake them
    a.write('after-full;', 'latin1');
    a.write('second;', 'latin1');
    sent.push(Buffer.from('after-full;second;'));
    writer.write(a, 'last.');
    sent.push(Buffer.from('last.'));
    const expected = Buffer.concat(sent);
    const drained = once(a, 'drain');
    const received = await readAll(b, expected.length);
    await drained;
    assert.equal(received.length, expected.length);
    assert.ok(received.equals(expected), 'the bytes arrive as written, in order');
  });

  test(`${name}: a write to a reset connection destroys the socket with the error`, { timeout: 20_000 }, async (t) => {
    const writer = new DirectWriter(enabled);
    // the accepted side was never read from, so only a write can find out about the reset
    const { a, b } = await pair(t);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => b.once('error', resolve));
    a.resetAndDestroy();
    const deadline = Date.now() + 5_000;
    let returned = true;
    while (!b.destroyed && Date.now() < deadline) {
      returned = writer.write(b, 'x'.repeat(1024));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(b.destroyed, 'the socket is destroyed');
    assert.equal(returned, false, 'the failed write returned false');
    assert.match(String((await error).code), /^(EPIPE|ECONNRESET)$/);
  });
}

test('direct: writes before the connection is up go through the stream (and still arrive first)', { timeout: 20_000 }, async (t) => {
  const writer = new DirectWriter(true);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection');
  const a = connect({ port, host: '127.0.0.1' });
  assert.equal(a.connecting, true);
  writer.write(a, 'early;');
  await once(a, 'connect');
  writer.write(a, 'late.');
  const [b] = (await accepted) as [Socket];
  t.after(() => {
    a.destroy();
    b.destroy();
    server.close();
  });
  assert.equal((await readAll(b, 11)).toString(), 'early;late.');
});

// The forward cache's memory is bounded in bytes, not only in entries: a client that may forward
// cannot fill every entry with a 60 KiB reply (10,000 of them: 600 MiB per thread). No sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { entryBytes, FORWARD_CACHE_BYTES_PER_ENTRY } from '../../dist/dns/forward-cache.js';
import { ForwardResolver } from '../../dist/dns/forward-resolver.js';
import { Stats } from '../../dist/dns/metrics.js';
import { CLASS, encodeQuery, encodeResponse, parseQuery, RCODE, TYPE, type Query } from '../../dist/dns/wire.js';

test('ForwardResolver: large replies are kept within --forward-cache-size x FORWARD_CACHE_BYTES_PER_ENTRY bytes', async () => {
  const size = 100;
  const forwarder = {
    relay(query: Uint8Array): Promise<Buffer | undefined> {
      const p = parseQuery(query);
      assert.ok(p.ok);
      const q = p.query;
      // 240 TXT records of 250 bytes: about 60 KiB, as a hostile zone can serve over TCP
      const answer = Array.from({ length: 240 }, (_, i) => ({ name: q.name, type: TYPE.TXT, class: CLASS.IN, ttl: 300, data: { kind: 'txt' as const, texts: [`${i}`.padEnd(250, 'x')] } }));
      return Promise.resolve(encodeResponse({ id: q.id, rcode: RCODE.NOERROR, rd: true, ra: true, question: Buffer.from(query).subarray(12, q.questionEnd), answer, maxSize: 65535 }));
    },
  };
  const r = new ForwardResolver({ forwarder: forwarder as never, config: () => ({ size, maxTtl: 3600, staleMax: 60 }), stats: new Stats() });
  let bytes = 0;
  for (let i = 0; i < size; i++) {
    const msg = encodeQuery(i, `big${i}.example.org.`, TYPE.TXT);
    const p = parseQuery(msg);
    assert.ok(p.ok);
    const out = await r.resolve(p.query as Query, msg, 'tcp', 65535);
    assert.ok(out && out.length > 60_000, 'every client still gets the whole reply');
    bytes = out.length;
  }
  const budget = Math.max(size * FORWARD_CACHE_BYTES_PER_ENTRY, 2 * 65536);
  assert.ok(r.entries >= 1, 'the newest reply is kept');
  assert.ok(r.entries * bytes <= budget, `${r.entries} entries of ${bytes} bytes exceed ${budget}`);
  assert.ok(entryBytes({ key: 'k', reply: Buffer.alloc(bytes), query: Buffer.alloc(40), ttlOffsets: [], ttls: [] } as never) >= bytes);
});

test('ForwardResolver: an evicted entry is not kept alive by the raw-bytes shortcut to it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const replies: WeakRef<Buffer>[] = [];
  const forwarder = {
    relay(query: Uint8Array): Promise<Buffer | undefined> {
      const p = parseQuery(query);
      assert.ok(p.ok);
      const q = p.query;
      const answer = Array.from({ length: 200 }, (_, i) => ({ name: q.name, type: TYPE.TXT, class: CLASS.IN, ttl: 300, data: { kind: 'txt' as const, texts: [`${i}`.padEnd(250, 'x')] } }));
      const reply = encodeResponse({ id: q.id, rcode: RCODE.NOERROR, rd: true, ra: true, question: Buffer.from(query).subarray(12, q.questionEnd), answer, maxSize: 65535 });
      replies.push(new WeakRef(reply));
      return Promise.resolve(reply);
    },
  };
  const r = new ForwardResolver({ forwarder: forwarder as never, config: () => ({ size: 10, maxTtl: 3600, staleMax: 60 }), stats: new Stats() });
  const ask = async (name: string): Promise<void> => {
    const msg = encodeQuery(1, name, TYPE.TXT);
    const p = parseQuery(msg);
    assert.ok(p.ok);
    // the Responder's raw key, as it passes one: the question bytes are unique per name here
    assert.ok(await r.resolve(p.query as Query, msg, 'tcp', 65535, `raw:${name}`));
  };
  // each asked twice: stored, then answered from the cache (which remembers the raw bytes)
  for (let i = 0; i < 40; i++) {
    await ask(`big${i}.example.org.`);
    await ask(`big${i}.example.org.`);
  }
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const alive = replies.filter((w) => w.deref() !== undefined).length;
  assert.ok(alive <= r.entries + 1, `${alive} replies alive for ${r.entries} entries`);
  assert.equal(r.alias('raw:big0.example.org.') === undefined || r.answerAlias(r.alias('raw:big0.example.org.')!, encodeQuery(2, 'big0.example.org.', TYPE.TXT)) === undefined, true);
});

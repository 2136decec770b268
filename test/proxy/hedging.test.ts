// Hedging with default flags: an app that accepts connections and never answers (kill -STOP)
// under continuous GETs fails no request and is out of rotation within 3 s, while an endpoint
// that is slow on every instance is still answered and ejects nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore } from '../../dist/store/file.js';
import { spawnTracked, type Tracked } from '../harness/procs.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { send, startProxy, untilReply, type ProxyUnderTest } from './fixtures.ts';

interface Child {
  name: string;
  port: number;
  proc: Tracked;
}

let proxy: ProxyUnderTest;
const children: Child[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

async function startChild(name: string): Promise<Child> {
  const proc = spawnTracked(process.execPath, [fileURLToPath(new URL('./upstream-child.ts', import.meta.url)), name]);
  cleanup.push(async () => {
    proc.child.kill('SIGCONT');
    await proc.stop('SIGKILL');
  });
  const port = Number(await waitFor(`upstream ${name}`, () => /listening (\d+)/.exec(proc.output())?.[1], 10_000));
  return { name, port, proc };
}

before(async () => {
  for (const name of ['h1', 'h2', 'h3']) children.push(await startChild(name));
  const dir = mkdtempSync(join(tmpdir(), 'beacon-hedging-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  // the same instances under a second name: each service has its own latency record
  for (const c of children) {
    await store.put(`/services/web/${c.name}`, `127.0.0.1:${c.port}`);
    await store.put(`/services/slow/${c.name}`, `127.0.0.1:${c.port}`);
  }
  await store.close();
  // default flags: hedging is on unless --hedge-after 0
  proxy = await startProxy(`file://${dir}`, ['--default-service', 'web', '--route', 'slow.test=slow', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop());
  await untilReply(proxy.port, {}, (r) => r.status === 200, 10_000);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

type Status = { services: Record<string, { id: string; state: string }[]> };

async function stateOf(port: number, service = 'web'): Promise<string | undefined> {
  const status = (await proxy.status()) as Status;
  return status.services[service]?.find((u) => u.id === `127.0.0.1:${port}`)?.state;
}

function hedges(metrics: string, service = 'web'): number {
  return Number(new RegExp(`^beacon_proxy_hedges_total\\{service="${service}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
}

test('an endpoint slow on every instance is still answered, and ejects nothing', { timeout: 60_000 }, async () => {
  // 1.5 s on every instance: past the 1 s hedge point, so a hedge goes out, and loses
  const replies = await Promise.all(Array.from({ length: 3 }, () => send(proxy.port, { host: 'slow.test', path: '/slow?ms=1500', timeoutMs: 10_000 })));
  for (const r of replies) {
    assert.equal(r.status, 200);
    assert.match(r.text, /^h\d slow done$/);
  }
  for (const c of children) assert.equal(await stateOf(c.port, 'slow'), 'up', `${c.name} stays in rotation`);
  assert.ok(hedges(await proxy.metrics(), 'slow') >= 1, 'the slow requests were hedged');
  // now that the service's recent p99 is 1.5 s, the hedge point is 4.5 s: none goes out
  const before = hedges(await proxy.metrics(), 'slow');
  const again = await send(proxy.port, { host: 'slow.test', path: '/slow?ms=1500', timeoutMs: 10_000 });
  assert.equal(again.status, 200);
  assert.equal(hedges(await proxy.metrics(), 'slow'), before, 'no hedge below 3 x the recent p99');
});

test('kill -STOP of an upstream under continuous GETs: no request fails, and it is ejected within 3 s', { timeout: 60_000 }, async () => {
  const victim = children[1]!;
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  const failures: string[] = [];
  const served: Record<string, number> = {};
  let running = true;
  const loops = Array.from({ length: 6 }, async () => {
    while (running) {
      try {
        // the issue's client: 5 s and it gives up
        const r = await send(proxy.port, { agent, timeoutMs: 5000 });
        if (r.status === 200) served[r.text] = (served[r.text] ?? 0) + 1;
        else failures.push(`${r.status} ${r.text}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  await sleep(500);
  victim.proc.child.kill('SIGSTOP');
  const stoppedAt = performance.now();
  let ejectedAfter = -1;
  // bounded: looks at /status for 5 s at most
  while (performance.now() - stoppedAt < 5000) {
    if ((await stateOf(victim.port)) === 'ejected') {
      ejectedAfter = performance.now() - stoppedAt;
      break;
    }
    await sleep(50);
  }
  // and the traffic goes on a while with the instance hung
  await sleep(1500);
  running = false;
  await Promise.all(loops);
  agent.destroy();
  victim.proc.child.kill('SIGCONT');
  const ok = Object.values(served).reduce((a, b) => a + b, 0);
  console.log(`# ${ok} GETs with ${victim.name} stopped (${JSON.stringify(served)}), ${failures.length} failed, ejected after ${Math.round(ejectedAfter)} ms`);
  assert.deepEqual(failures, []);
  assert.ok(ejectedAfter >= 0 && ejectedAfter <= 3000, `ejected ${ejectedAfter < 0 ? 'never (within 5 s)' : `after ${Math.round(ejectedAfter)} ms`}`);
  assert.ok(hedges(await proxy.metrics()) >= 3, 'the hung requests were hedged');
  assert.ok(proxy.beacon.logs().some((l) => String(l.msg).startsWith('upstream ejected: requests in a row answered by another instance first')), 'the ejection is logged');
});

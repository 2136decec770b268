// The fast engine's direct writes must leave TLS sockets alone: TLSWrap takes one write at a time
// and aborts the process (a native assertion, `!current_write_`) on a second direct write before
// the first completes. Run in a child process, since the failure is an abort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeSiteCA } from '../../harness/site-certs.ts';

const writer = fileURLToPath(new URL('../../../dist/proxy/fast/direct-write.js', import.meta.url));

test('several direct writes in a row on a TLS socket all arrive, in order, without an abort', { timeout: 30_000 }, async () => {
  const ca = makeSiteCA();
  try {
    const site = ca.sign('site', ['site.test']);
    const script = `
      import { createServer, connect } from 'node:tls';
      const { DirectWriter } = await import(${JSON.stringify(writer)});
      const w = new DirectWriter();
      const srv = createServer({ key: process.env.KEY, cert: process.env.CERT }, (s) => {
        for (let i = 0; i < 20; i++) w.write(s, 'line ' + i + '\\n');
        w.write(s, Buffer.from('end\\n'));
        s.end();
      });
      srv.listen(0, '127.0.0.1', () => {
        const c = connect({ port: srv.address().port, host: '127.0.0.1', servername: 'site.test', ca: process.env.CERT });
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('end', () => { process.stdout.write(got); c.destroy(); srv.close(); });
      });`;
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, KEY: site.key, CERT: site.chain }, timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(out.code, 0, out.stderr.slice(0, 2000));
    assert.equal(out.stdout, `${Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('')}end\n`);
  } finally {
    ca.cleanup();
  }
});

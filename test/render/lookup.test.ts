// lookupIP and lookupSRV run child processes; names from the store must never become options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderTemplate } from '../../dist/render/template/exec.js';
import { confdFuncs, isLookupName, lookupIP, lookupSRV } from '../../dist/render/funcs.js';
import { KeyValues } from '../../dist/render/kv.js';

function render(src: string): string {
  return renderTemplate('t.tmpl', src, null, confdFuncs(new KeyValues([]), { env: {}, now: () => new Date(0) }));
}

test('lookupSRV and lookupIP never run a name as code or an option', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-lookup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'pwned');
  const code = `require("fs").writeFileSync(${JSON.stringify(marker)},"x")`;
  for (const src of [
    `{{range lookupSRV "" "" ${JSON.stringify(`--eval=${code}`)}}}{{.Target}}{{else}}none{{end}}`,
    `{{range lookupSRV "" "" ${JSON.stringify(`-e${code}`)}}}{{.Target}}{{else}}none{{end}}`,
    `{{range lookupIP ${JSON.stringify('--help')}}}{{.}}{{else}}none{{end}}`,
  ]) {
    let out: string | undefined;
    try {
      out = render(src);
    } catch (err) {
      assert.match((err as Error).message, /not a DNS name/, src);
    }
    if (out !== undefined) assert.equal(out, 'none', src);
    assert.equal(existsSync(marker), false, `code ran: ${src}`);
  }
  assert.throws(() => lookupSRV('', '', `--eval=${code}`), /not a DNS name/);
  assert.throws(() => lookupIP('-s'), /not a DNS name/);
  assert.equal(existsSync(marker), false);
});

test('isLookupName accepts DNS names (SRV underscores, trailing dot) and nothing else', () => {
  for (const name of ['localhost', '_http._tcp.example.com', 'a-b.c.', 'x'.repeat(63)]) assert.equal(isLookupName(name), true, name);
  for (const name of ['', '-x', '--eval=1', 'a b', 'a..b', '.', 'x'.repeat(64), 'a;b', `${'a.'.repeat(127)}ab`]) assert.equal(isLookupName(name), false, name);
});

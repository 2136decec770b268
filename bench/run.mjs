// `npm run bench [-- NAME...]`: runs bench/<NAME>.mjs (all of them without a name). Each benchmark
// measures beacon beside a peer (nginx, dnsmasq...) in the same run and prints ratios.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs').map((f) => f.replace(/\.mjs$/, ''));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// `proxy` is the proxy over plain HTTP and over TLS (bench/proxy-tls.mjs, also runnable alone)
const GROUPS = { proxy: ['proxy', 'proxy-tls'] };
const names = [...new Set((wanted.length > 0 ? wanted : available).flatMap((n) => GROUPS[n] ?? [n]))];
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`unknown benchmark ${JSON.stringify(name)}; available: ${available.join(', ')}`);
    process.exit(2);
  }
}
for (const name of names) {
  console.log(`\n=== bench ${name} ===`);
  const mod = await import(join(here, `${name}.mjs`));
  await mod.run();
}

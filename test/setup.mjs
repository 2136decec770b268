// Installs what the integration tests need when it is missing (root + apt-get), or fails naming
// the packages. Tests never skip for want of a tool.
import { execFileSync, spawnSync } from 'node:child_process';

const NEEDED = [
  ['etcd', 'etcd-server'],
  ['etcdctl', 'etcd-client'],
  ['nginx', 'nginx-light'],
  ['dig', 'bind9-dnsutils'],
  ['openssl', 'openssl'],
  // the admin page tests drive a real headless browser (playwright-core never downloads one)
  ['chromium', 'chromium'],
];

export function missingPackages(needed = NEEDED) {
  return needed.filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status !== 0).map(([, pkg]) => pkg);
}

export function ensurePackages(needed = NEEDED) {
  const missing = missingPackages(needed);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`beacon tests need these Debian packages: ${missing.join(' ')}\nInstall them: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.error(`installing test dependencies: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = missingPackages(needed);
  if (still.length > 0) {
    console.error(`still missing after apt-get: ${still.join(' ')}`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) ensurePackages();

import { isAbsolute } from 'node:path';
import type { ModeDefinition } from '../mode.js';
import type { StoreConfig } from '../config/common.js';
import { UsageError } from '../errors.js';
import { serversProblem } from './lookup.js';
import { parseWait } from './wait.js';

export interface RenderFlags extends StoreConfig {
  confdir: string;
  onetime: boolean;
  watch: boolean;
  noop: boolean;
  prefix?: string;
  wait: string;
  reloadTimeout: number;
  lookupServers?: string[];
  lookupTimeout: number;
  nginxUpstreams?: string;
  checkCmd?: string;
  reloadCmd?: string;
}

export const definition: ModeDefinition = {
  name: 'render',
  usage: 'beacon render [--confdir /etc/confd] [--onetime] [--noop] [--watch] [--wait 300ms:3s] [--nginx-upstreams FILE [--check-cmd CMD] [--reload-cmd CMD]] [--admin ADDR]',
  summary: 'confd replacement: render conf.d/*.toml template resources (or nginx upstream blocks) from the store; check, swap, reload safely',
  daemon: true,
  flags: [
    { name: 'confdir', type: 'string', placeholder: 'DIR', default: '/etc/confd', help: 'confd directory with conf.d/*.toml template resources and templates/' },
    { name: 'onetime', type: 'bool', default: false, help: 'render once and exit (0 when every resource rendered and applied, 1 otherwise)' },
    { name: 'watch', type: 'bool', default: true, help: 'keep watching the store and confdir, applying changes after the --wait debounce (the default; --onetime turns it off)' },
    { name: 'noop', type: 'bool', default: false, help: 'print a diff of what would change on stdout; write nothing, run no command' },
    { name: 'prefix', type: 'string', placeholder: 'PREFIX', help: "key prefix that replaces every resource's `prefix` (confd's -prefix)" },
    {
      name: 'wait',
      type: 'string',
      placeholder: 'MIN[:MAX]',
      default: '300ms:3s',
      help: 'debounce: apply MIN after the last change, but at most MAX after the first of a burst (consul-template semantics; MAX defaults to 4 x MIN; 0 disables)',
      validate: (v: string) => {
        const w = parseWait(v);
        return typeof w === 'string' ? w : undefined;
      },
    },
    { name: 'reload-timeout', type: 'duration', default: 30_000, min: 100, help: 'time limit for each check_cmd and reload_cmd run (killed after it)' },
    {
      name: 'lookup-servers',
      type: 'list',
      placeholder: 'ADDR[,ADDR...]',
      help: "DNS servers for the templates' lookupIP/lookupIPV4/lookupIPV6/lookupSRV (IP or IP:PORT, [IPv6]:PORT); default: the system resolver (/etc/hosts and /etc/resolv.conf)",
      validate: (v: string[]) => serversProblem(v),
    },
    { name: 'lookup-timeout', type: 'duration', default: 5000, min: 10, help: "time limit of one template lookup; a lookup that takes longer answers empty, as a failed one does in confd" },
    { name: 'nginx-upstreams', type: 'string', placeholder: 'FILE', help: 'template-free mode: write one `upstream <service> { server host:port; }` block per service to FILE' },
    { name: 'check-cmd', type: 'string', placeholder: 'CMD', help: 'with --nginx-upstreams: validation command ({{.src}} = staged file; without it the check runs with the new file in place and reverts on failure)' },
    { name: 'reload-cmd', type: 'string', placeholder: 'CMD', help: 'with --nginx-upstreams: reload command, e.g. "nginx -s reload"' },
  ],
  async create(ctx) {
    const flags = ctx.flags as unknown as RenderFlags;
    const wait = parseWait(flags.wait);
    if (typeof wait === 'string') throw new UsageError('--wait', wait);
    if ((flags.checkCmd || flags.reloadCmd) && !flags.nginxUpstreams) {
      throw new UsageError(flags.checkCmd ? '--check-cmd' : '--reload-cmd', 'only applies with --nginx-upstreams (template resources set check_cmd/reload_cmd in their .toml)');
    }
    if (flags.nginxUpstreams !== undefined && !isAbsolute(flags.nginxUpstreams)) {
      throw new UsageError('--nginx-upstreams', `expected an absolute file path, got ${JSON.stringify(flags.nginxUpstreams)}`);
    }
    if (!flags.confdir) throw new UsageError('--confdir', 'must not be empty');
    // apply.js is the render pipeline itself: imported with the mode, not with its definition
    const [{ Renderer }, { commandProblem }] = await Promise.all([import('./renderer.js'), import('./apply.js')]);
    for (const [flag, cmd] of [['--check-cmd', flags.checkCmd], ['--reload-cmd', flags.reloadCmd]] as const) {
      const problem = cmd === undefined ? undefined : commandProblem({ checkCmd: cmd });
      if (problem) throw new UsageError(flag, problem.replace(/^check_cmd /, ''));
    }
    // without --watch there is nothing to keep doing: --no-watch means render once
    const onetime = flags.onetime || !flags.watch;
    return new Renderer(
      {
        confdir: flags.confdir,
        prefix: flags.prefix ?? '',
        onetime,
        noop: flags.noop,
        wait,
        timeoutMs: flags.reloadTimeout,
        servicesPrefix: flags.servicesPrefix,
        lookup: { timeoutMs: flags.lookupTimeout, ...(flags.lookupServers && flags.lookupServers.length > 0 ? { servers: flags.lookupServers } : {}) },
        ...(flags.nginxUpstreams
          ? { nginxUpstreams: { file: flags.nginxUpstreams, ...(flags.checkCmd ? { checkCmd: flags.checkCmd } : {}), ...(flags.reloadCmd ? { reloadCmd: flags.reloadCmd } : {}) } }
          : {}),
      },
      { store: ctx.store(), log: ctx.log, metrics: ctx.metrics, env: ctx.env, stdout: ctx.stdout },
    );
  },
};

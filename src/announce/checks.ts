import { connect } from 'node:net';
import { request } from 'undici';
import { UsageError } from '../errors.js';
import { runShell } from '../shell.js';

export type CheckSpec =
  | { kind: 'http'; url: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'cmd'; command: string };

export interface CheckResult {
  ok: boolean;
  /** why it failed, or what passed (status code) */
  detail: string;
}

/** `http(s)://...`, `tcp://host:port`, `cmd:<shell>`; default: TCP connect to the announced address. */
export function parseCheckSpec(spec: string | undefined, host: string, port: number): CheckSpec {
  if (spec === undefined || spec === '') return { kind: 'tcp', host, port };
  if (/^https?:\/\//i.test(spec)) {
    try {
      new URL(spec);
    } catch {
      throw new UsageError('--check', `invalid URL ${JSON.stringify(spec)}`);
    }
    return { kind: 'http', url: spec };
  }
  if (spec.startsWith('tcp://')) {
    const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d{1,5})\/?$/.exec(spec);
    const p = m ? Number(m[3]) : 0;
    if (!m || p < 1 || p > 65535) throw new UsageError('--check', `expected tcp://HOST:PORT, got ${JSON.stringify(spec)}`);
    return { kind: 'tcp', host: (m[1] ?? m[2])!, port: p };
  }
  if (spec.startsWith('cmd:')) {
    const command = spec.slice(4).trim();
    if (!command) throw new UsageError('--check', 'cmd: needs a shell command, e.g. cmd:pg_isready');
    return { kind: 'cmd', command };
  }
  throw new UsageError('--check', `expected http://..., https://..., tcp://HOST:PORT or cmd:COMMAND, got ${JSON.stringify(spec)}`);
}

export function describeCheck(spec: CheckSpec): string {
  switch (spec.kind) {
    case 'http':
      return spec.url;
    case 'tcp':
      return `tcp://${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.port}`;
    case 'cmd':
      return `cmd:${spec.command}`;
  }
}

/** Runs one check, bounded by `timeoutMs`; never throws. */
export function runCheck(spec: CheckSpec, timeoutMs: number): Promise<CheckResult> {
  switch (spec.kind) {
    case 'http':
      return httpCheck(spec.url, timeoutMs);
    case 'tcp':
      return tcpCheck(spec.host, spec.port, timeoutMs);
    case 'cmd':
      return cmdCheck(spec.command, timeoutMs);
  }
}

async function httpCheck(url: string, timeoutMs: number): Promise<CheckResult> {
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { 'user-agent': 'beacon-health-check' },
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    const ok = res.statusCode >= 200 && res.statusCode < 400;
    return { ok, detail: `HTTP ${res.statusCode}` };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, detail: e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${timeoutMs}ms` : (e.code ?? e.message) };
  }
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `connect timed out after ${timeoutMs}ms` }), timeoutMs);
    socket.once('connect', () => done({ ok: true, detail: 'connected' }));
    socket.once('error', (err: Error & { code?: string }) => done({ ok: false, detail: err.code ?? err.message }));
  });
}

async function cmdCheck(command: string, timeoutMs: number): Promise<CheckResult> {
  const r = await runShell(command, timeoutMs);
  if (r.ok) return { ok: true, detail: 'exit 0' };
  if (r.timedOut) return { ok: false, detail: `timed out after ${timeoutMs}ms` };
  return { ok: false, detail: `exit ${r.code ?? r.signal}${r.output ? `: ${r.output.slice(0, 200)}` : ''}` };
}

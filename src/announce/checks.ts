import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'undici';
import { UsageError } from '../errors.js';

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

function cmdCheck(command: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    // Its own process group, so a timeout kills the whole pipeline, not just the shell.
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 512) stderr += chunk.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: err.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve({ ok: false, detail: `timed out after ${timeoutMs}ms` });
      else if (code === 0) resolve({ ok: true, detail: 'exit 0' });
      else resolve({ ok: false, detail: `exit ${code ?? signal}${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}` });
    });
  });
}

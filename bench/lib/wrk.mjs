// The numbers the benchmarks take from wrk's and h2load's text reports. A number the report
// lacks is NaN, which the tables print as n/a.
import { execFileSync } from 'node:child_process';

/** wrk's report for `url` (its own arguments first) */
export function runWrk(args, url) {
  return execFileSync('wrk', [...args, url], { encoding: 'utf8' });
}

/** "850.00us", "1.40ms", "2s" in milliseconds */
export function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** "5.71MB" in bytes (wrk's units are powers of 1024) */
export function toBytes(text) {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2]];
}

/** p50 and p99 need `--latency`; `socketErrors` is wrk's text ("connect 0, read 12, ...") or undefined when there were none */
export function parseWrk(out) {
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    mbps: toBytes(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '') / 1024 ** 2,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors: (.*)/.exec(out)?.[1],
  };
}

/** `mean`: the mean time for a request in ms; `proto`: the protocol ALPN settled on (h2) */
export function parseH2load(out) {
  return {
    rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1]),
    mean: toMs(/time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? ''),
    failed: Number(/(\d+) failed/.exec(out)?.[1] ?? 0),
    proto: /Application protocol: (\S+)/.exec(out)?.[1],
  };
}

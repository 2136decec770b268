import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dns2 from 'dns2';

const run = promisify(execFile);

export interface DigResult {
  status: string;
  flags: string[];
  /** `name ttl TYPE data` */
  answer: string[];
  authority: string[];
  additional: string[];
  raw: string;
}

function section(lines: string[], title: string): string[] {
  const start = lines.findIndex((l) => l.startsWith(`;; ${title} SECTION:`));
  if (start === -1) return [];
  const out: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i]!.trim() !== '' && !lines[i]!.startsWith(';;'); i++) {
    const [name, ttl, , type, ...data] = lines[i]!.trim().split(/\s+/);
    out.push(`${name} ${ttl} ${type} ${data.join(' ')}`);
  }
  return out;
}

/** Real `dig` against 127.0.0.1:port. */
export async function dig(port: number, name: string, type: string, ...options: string[]): Promise<DigResult> {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(port), name, type, '+time=3', '+tries=1', ...options], { timeout: 15_000 });
  const lines = stdout.split('\n');
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  return { status, flags, answer: section(lines, 'ANSWER'), authority: section(lines, 'AUTHORITY'), additional: section(lines, 'ADDITIONAL'), raw: stdout };
}

/** the data column of answer records of one type */
export function values(result: DigResult, type: string): string[] {
  return result.answer.filter((l) => l.split(' ')[2] === type).map((l) => l.split(' ').slice(3).join(' '));
}

export interface Upstream {
  port: number;
  queries: { name: string; type: number }[];
  close(): Promise<void>;
}

/**
 * A small authoritative server on loopback (UDP and TCP) standing in for the upstream resolver:
 * `*.example.test` A -> 192.0.2.7, TXT -> "upstream", everything else NXDOMAIN.
 */
export async function startUpstream(port: number): Promise<Upstream> {
  const { Packet } = dns2;
  const queries: { name: string; type: number }[] = [];
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      type Answer = (typeof response.answers)[number];
      const q = request.questions[0];
      if (q) {
        queries.push({ name: q.name, type: q.type });
        const name = q.name.toLowerCase().replace(/\.$/, '');
        if (name.endsWith('example.test') && q.type === Packet.TYPE.A) {
          response.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 120, address: '192.0.2.7' } as unknown as Answer);
        } else if (name.endsWith('example.test') && q.type === Packet.TYPE.TXT) {
          response.answers.push({ name: q.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 120, data: 'upstream' } as unknown as Answer);
        } else if (!name.endsWith('example.test')) {
          response.header.rcode = 3;
        }
      }
      send(response);
    },
  });
  await server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } });
  return { port, queries, close: () => server.close().then(() => undefined) };
}

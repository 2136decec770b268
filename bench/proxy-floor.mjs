// The floor under any Node.js proxy on this machine: bytes between net sockets with the least
// parsing that works for the benchmark's GETs (no validation, no routing, no timeouts, no
// metrics), using the same socket techniques as beacon (upstream reads into one reused buffer
// through net's `onread`, each response leaving in one write). Not a proxy to run;
// bench/proxy.mjs measures it beside beacon and nginx so the share of the gap that is Node's
// own socket machinery stays visible.
// node bench/proxy-floor.mjs LISTEN_PORT UPSTREAM_PORT...
import net from 'node:net';

const [listenPort, ...ups] = process.argv.slice(2).map(Number);
const idle = ups.map(() => []);
const scratch = Buffer.alloc(64 * 1024);
let next = 0;

function upstream(i) {
  const pooled = idle[i].pop();
  if (pooled) return pooled;
  const sock = net.connect({
    port: ups[i],
    host: '127.0.0.1',
    noDelay: true,
    onread: { buffer: scratch, callback: (n, buf) => sock.onChunk(buf, n) },
  });
  sock.index = i;
  sock.on('error', () => undefined);
  return sock;
}

net
  .createServer({ noDelay: true }, (client) => {
    let pending = null;
    client.on('error', () => undefined);
    client.on('data', (d) => {
      pending = pending ? Buffer.concat([pending, d]) : d;
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = pending.latin1Slice(0, end).split('\r\n');
      pending = null;
      let head = `${lines[0]}\r\n`;
      let host = '';
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        const name = lines[i].slice(0, colon).toLowerCase();
        if (name === 'connection' || name === 'keep-alive') continue;
        if (name === 'host') host = lines[i].slice(colon + 1).trim();
        head += `${lines[i]}\r\n`;
      }
      head += `x-forwarded-for: ${client.remoteAddress}\r\nx-forwarded-proto: http\r\nx-forwarded-host: ${host}\r\n\r\n`;
      const u = upstream(next++ % ups.length);
      let remaining = -1;
      let response = '';
      u.onChunk = (buf, n) => {
        // the scratch buffer is reused by the next read: what is kept is copied out as text
        if (remaining < 0) {
          response += buf.latin1Slice(0, n);
          const e = response.indexOf('\r\n\r\n');
          if (e < 0) return;
          remaining = Number(/content-length:\s*(\d+)/i.exec(response.slice(0, e))[1]) - (response.length - e - 4);
        } else {
          remaining -= n;
          response += buf.latin1Slice(0, n);
        }
        if (remaining > 0) return;
        client.write(response, 'latin1');
        idle[u.index].push(u);
      };
      u.write(head, 'latin1');
    });
  })
  .listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));

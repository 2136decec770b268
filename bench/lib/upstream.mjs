// The upstream the HTTP proxy benchmarks put behind beacon and nginx alike: node:http answering
// every request with a short fixed body, keep-alive on. `node -e UPSTREAM_SOURCE PORT NAME`
// prints "listening" once it accepts.
export const UPSTREAM_SOURCE = `
const http = require('node:http');
const body = Buffer.from('hello from upstream ' + process.argv[2] + '\\n');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

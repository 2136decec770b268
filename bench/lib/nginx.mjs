// nginx as a benchmark peer: one worker in the foreground, every file it writes under the
// benchmark's own directory (so it runs without root and leaves nothing behind), no access log.

/** a whole nginx.conf: the shared top, then `http` (directives inside `http { }`, each line indented two spaces and ended by a newline) */
export function nginxConfig(dir, http) {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}}
`;
}

/** `upstream bench`: the loopback ports, with keep-alive connections to them; `extra` directives go last */
export function benchUpstream(ports, extra = []) {
  return `  upstream bench {
${ports.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 64;
${extra.map((d) => `    ${d}\n`).join('')}  }
`;
}

/** `location /` passing everything to `upstream bench` with the forwarding headers beacon sets too, inside a `server { }` */
export const PROXY_TO_BENCH = `    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
`;

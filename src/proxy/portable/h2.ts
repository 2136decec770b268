/**
 * HTTP/2 requests in the portable engine: node:http2's compatibility request/response are close
 * to node:http's, so handle() serves them; only the header list is given its HTTP/1.1 form
 * (Host from :authority, no pseudo-headers, a body without length marked chunked) and the
 * version reads as 1.1 for admission.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { http1Headers } from '../tls/h2-session.js';

export function asHttp1Request(req: Http2ServerRequest): Http2ServerRequest {
  const raw = http1Headers(req.rawHeaders, !req.stream.endAfterHeaders);
  Object.defineProperty(req, 'rawHeaders', { value: raw, configurable: true });
  Object.defineProperty(req, 'httpVersionMinor', { value: 1, configurable: true });
  // admitted as HTTP/1.1 (admission answers 505 to other major versions on HTTP/1 connections)
  Object.defineProperty(req, 'httpVersionMajor', { value: 1, configurable: true });
  return req;
}

/** HTTP/2 has no reason phrase: writeHead(status, reason, headers) drops it instead of warning. */
export function withoutReason(res: Http2ServerResponse): Http2ServerResponse {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: unknown) => Http2ServerResponse;
  Object.defineProperty(res, 'writeHead', {
    value: (status: number, reasonOrHeaders?: unknown, headers?: unknown) => writeHead(status, typeof reasonOrHeaders === 'string' ? headers : reasonOrHeaders),
    configurable: true,
  });
  return res;
}

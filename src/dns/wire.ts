/**
 * The DNS wire format (RFC 1035, EDNS0 from RFC 6891): parse queries, encode responses with name
 * compression and truncation, and decode whole messages (forwarder replies, tests).
 *
 * Written here rather than taken from dns2 because the hot path needs a query parser that
 * allocates almost nothing, responses that truncate at a byte budget while keeping the OPT record,
 * and a decoder that refuses forward or looping compression pointers on hostile input.
 */
// The module callers import; the work is done in one file per job:
//   wire-model.ts      numbers, record shapes, WireError, record data as text
//   wire-names.ts      names: read, skip, label text, presentation name -> labels
//   wire-addresses.ts  IPv4/IPv6 text <-> bytes
//   wire-encode.ts     responses and queries
//   wire-decode.ts     the query parser and whole-message decoder
export { CLASS, RCODE, TYPE, WireError, rcodeName, rdataText, typeName, type Edns, type Query, type RData, type RR } from './wire-model.js';
export { isEncodableName, nameLabels, readName } from './wire-names.js';
export { ipv6Bytes, ipv6Text } from './wire-addresses.js';
export { encodeQuery, encodeResponse, type ResponseSpec } from './wire-encode.js';
export { decodeMessage, parseQuery, type Message, type QueryParse } from './wire-decode.js';

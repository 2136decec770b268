// test/proxy/acme-pebble.test.ts against the portable engine (node:http + undici): the same cases
// (the challenge is answered on the plain listener by each engine).
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/acme-pebble.test.ts');

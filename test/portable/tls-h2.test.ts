// test/proxy/tls-h2.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/tls-h2.test.ts');

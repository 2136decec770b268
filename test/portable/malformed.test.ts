// test/proxy/malformed.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/malformed.test.ts');

// test/proxy/routes-balance.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/routes-balance.test.ts');

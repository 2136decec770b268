// test/proxy/hedging.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/hedging.test.ts');

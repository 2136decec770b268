// test/proxy/shared-reads.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/shared-reads.test.ts');

// test/faults/hostile-store.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../faults/hostile-store.test.ts');

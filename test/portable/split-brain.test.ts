// test/faults/split-brain.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../faults/split-brain.test.ts');

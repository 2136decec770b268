// test/faults/stuck-stdout.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../faults/stuck-stdout.test.ts');

// test/proxy/routes-etcd.test.ts against the portable engine (node:http + undici): the same cases.
process.env.BEACON_ENGINE = 'portable';
await import('../proxy/routes-etcd.test.ts');

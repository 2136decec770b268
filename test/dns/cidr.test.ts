// Table-driven tests of the CIDR lists behind --allow-recursion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, cidrProblem, DEFAULT_ALLOW_RECURSION } from '../../dist/dns/cidr.js';

const MEMBERSHIP: { list: string[]; address: string; want: boolean }[] = [
  // IPv4 edges
  { list: ['10.0.0.0/8'], address: '10.0.0.0', want: true },
  { list: ['10.0.0.0/8'], address: '10.255.255.255', want: true },
  { list: ['10.0.0.0/8'], address: '11.0.0.0', want: false },
  { list: ['10.0.0.0/8'], address: '9.255.255.255', want: false },
  { list: ['172.16.0.0/12'], address: '172.31.255.255', want: true },
  { list: ['172.16.0.0/12'], address: '172.32.0.0', want: false },
  { list: ['172.16.0.0/12'], address: '172.15.255.255', want: false },
  { list: ['192.168.1.7'], address: '192.168.1.7', want: true },
  { list: ['192.168.1.7'], address: '192.168.1.8', want: false },
  { list: ['192.168.1.7/32'], address: '192.168.1.7', want: true },
  { list: ['0.0.0.0/0'], address: '203.0.113.9', want: true },
  { list: ['0.0.0.0/0'], address: '2001:db8::1', want: false },
  // a network written with host bits is masked
  { list: ['10.1.2.3/8'], address: '10.200.0.1', want: true },
  // high bit set (sign trouble with 32-bit ints)
  { list: ['240.0.0.0/4'], address: '255.255.255.255', want: true },
  { list: ['128.0.0.0/1'], address: '127.255.255.255', want: false },
  { list: ['128.0.0.0/1'], address: '128.0.0.0', want: true },
  // IPv4-mapped IPv6 clients match IPv4 ranges, in both spellings
  { list: ['127.0.0.0/8'], address: '::ffff:127.0.0.1', want: true },
  { list: ['127.0.0.0/8'], address: '::FFFF:127.0.0.1', want: true },
  { list: ['127.0.0.0/8'], address: '::ffff:7f00:1', want: true },
  { list: ['10.0.0.0/8'], address: '::ffff:11.0.0.1', want: false },
  { list: ['::ffff:10.0.0.0/104'], address: '10.9.9.9', want: true },
  { list: ['::ffff:10.0.0.0/104'], address: '11.9.9.9', want: false },
  // but not the IPv4 ranges by accident
  { list: ['127.0.0.0/8'], address: '::7f00:1', want: false },
  { list: ['127.0.0.0/8'], address: '::1', want: false },
  // IPv6
  { list: ['::1/128'], address: '::1', want: true },
  { list: ['::1/128'], address: '0:0:0:0:0:0:0:1', want: true },
  { list: ['::1/128'], address: '::2', want: false },
  { list: ['::1/128'], address: '127.0.0.1', want: false },
  { list: ['fc00::/7'], address: 'fd12:3456::1', want: true },
  { list: ['fc00::/7'], address: 'fc00::', want: true },
  { list: ['fc00::/7'], address: 'fe00::1', want: false },
  { list: ['fc00::/7'], address: 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', want: false },
  { list: ['2001:db8::/32'], address: '2001:db8:ffff::1', want: true },
  { list: ['2001:db8::/32'], address: '2001:db9::1', want: false },
  { list: ['2001:db8:0:1::/64'], address: '2001:db8:0:1:ffff:ffff:ffff:ffff', want: true },
  { list: ['2001:db8:0:1::/64'], address: '2001:db8:0:2::', want: false },
  { list: ['2001:db8::/127'], address: '2001:db8::1', want: true },
  { list: ['2001:db8::/127'], address: '2001:db8::2', want: false },
  { list: ['fe80::/10'], address: 'fe80::1%eth0', want: true },
  { list: ['::/0'], address: '2001:db8::1', want: true },
  { list: ['::/0'], address: '8.8.8.8', want: false },
  { list: ['1:2:3:4:5:6:7:8'], address: '1:2:3:4:5:6:7:8', want: true },
  { list: ['1:2:3:4:5:6:7:8'], address: '1:2:3:4:5:6:7:9', want: false },
  { list: ['1::8'], address: '1:0:0:0:0:0:0:8', want: true },
  { list: ['1:2::'], address: '1:2:0:0:0:0:0:0', want: true },
  // several ranges
  { list: ['10.0.0.0/8', '192.168.0.0/16', '::1/128'], address: '192.168.3.4', want: true },
  { list: ['10.0.0.0/8', '192.168.0.0/16', '::1/128'], address: '::1', want: true },
  { list: ['10.0.0.0/8', '192.168.0.0/16', '::1/128'], address: '8.8.8.8', want: false },
  // what is no address is never inside
  { list: ['0.0.0.0/0', '::/0'], address: '', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: 'localhost', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1.2.3', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1.2.3.256', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1.2.3.4.5', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '01.2.3.4', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1:2:3', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1::2::3', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: ':1::', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1:', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '12345::', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1:2:3:4:5:6:7:8:9', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: '1::2:3:4:5:6:7:8', want: false },
  { list: ['0.0.0.0/0', '::/0'], address: 'g::1', want: false },
];

test('CIDR membership', () => {
  for (const c of MEMBERSHIP) {
    assert.equal(CidrSet.parse(c.list).has(c.address), c.want, `${c.address} in ${c.list.join(',')}`);
  }
});

test('the default allows loopback and private ranges only', () => {
  const set = CidrSet.parse(DEFAULT_ALLOW_RECURSION);
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '10.1.2.3', '172.20.0.5', '192.168.0.1', '100.64.0.1', 'fd00::1', '::ffff:192.168.1.1']) {
    assert.equal(set.has(a), true, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8', '::2', 'fe80::1']) {
    assert.equal(set.has(a), false, a);
  }
});

test('bad CIDRs are named', () => {
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0/8', '10.0.0.0/', '10.0.0.0/-1', 'fc00::/x', 'example.com', '', 'fe80::1%eth0/64', '1.2.3.4/8/9']) {
    assert.match(cidrProblem(bad) ?? '', /is not a CIDR/, JSON.stringify(bad));
    assert.throws(() => CidrSet.parse([bad]), /is not a CIDR/);
  }
  for (const good of ['10.0.0.0/8', ' 192.168.0.0/16 ', '::1', '::/0', '0.0.0.0/0', '::ffff:10.0.0.0/104', '2001:db8::/32']) {
    assert.equal(cidrProblem(good), undefined, good);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultInstanceId, isDnsLabel, isInstanceId, keyToName, nameToKey, sanitizeLabel, skydnsKey } from '../../dist/catalog/names.js';
import { parseServiceValue, parseSkyRecord } from '../../dist/catalog/values.js';

test('instance ids are sanitized DNS labels', () => {
  assert.equal(defaultInstanceId('web1', 8080), 'web1-8080');
  assert.equal(defaultInstanceId('Web_1.example.com', 80), 'web-1-80');
  assert.equal(sanitizeLabel('--A__b--'), 'a-b');
  assert.equal(sanitizeLabel('___'), 'instance');
  assert.equal(sanitizeLabel('x'.repeat(80)).length, 63);
  assert.ok(isDnsLabel('web1-8080'));
  for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'x'.repeat(64)]) assert.ok(!isDnsLabel(bad), bad);
  for (const ok of ['web1-8080', 'apache@1', 'Web_1', '10.0.0.5:8080', 'a.b']) assert.ok(isInstanceId(ok), ok);
  for (const bad of ['', ' a', 'a b', 'a{', 'a;b', 'ü', '@a', 'x'.repeat(254)]) assert.ok(!isInstanceId(bad), bad);
});

test('names map to keys by label reversal and back', () => {
  assert.equal(nameToKey('web1-8080.app.skydns.local.'), '/skydns/local/skydns/app/web1-8080');
  assert.equal(nameToKey('App.SkyDNS.Local'), '/skydns/local/skydns/app');
  assert.equal(skydnsKey('/skydns', 'skydns.local.', 'app', 'web1-8080'), '/skydns/local/skydns/app/web1-8080');
  assert.equal(keyToName('/skydns/local/skydns/app/web1-8080'), 'web1-8080.app.skydns.local.');
  assert.equal(keyToName('/other/x'), undefined);
  assert.equal(keyToName('/skydnsx/a'), undefined);
});

test('/services values in every form operators write', () => {
  const good: [string, object][] = [
    ['10.0.0.5:8080', { host: '10.0.0.5', port: 8080 }],
    [' 10.0.0.5:8080\n', { host: '10.0.0.5', port: 8080 }],
    ['http://10.0.0.5:8080', { host: '10.0.0.5', port: 8080 }],
    ['http://web.local/', { host: 'web.local', port: 80 }],
    ['https://web.local', { host: 'web.local', port: 443 }],
    ['[fd00::1]:80', { host: 'fd00::1', port: 80 }],
    ['{"host":"10.0.0.5","port":8080}', { host: '10.0.0.5', port: 8080 }],
    ['{"host":"10.0.0.5","port":"8080","weight":3}', { host: '10.0.0.5', port: 8080, weight: 3 }],
    ['app-1.internal:9000', { host: 'app-1.internal', port: 9000 }],
  ];
  for (const [text, expected] of good) {
    const parsed = parseServiceValue(text);
    assert.ok(parsed.ok, `${text}: ${parsed.ok ? '' : parsed.error}`);
    assert.deepEqual(parsed.value, expected, text);
  }
  for (const bad of ['', '10.0.0.5', '10.0.0.5:0', '10.0.0.5:70000', 'a b:80', '{"host":1}', '{bad json', '[zz]:80', 'x:80:90', '{"host":"a","port":8,"weight":-1}']) {
    assert.equal(parseServiceValue(bad).ok, false, bad);
  }
});

test('SkyDNS records accept every documented field and reject wrong types', () => {
  const r = parseSkyRecord('{"host":"10.0.0.5","port":8080,"priority":10,"weight":100,"text":"t","mail":true,"ttl":15,"targetstrip":1,"group":"g","extra":1}');
  assert.ok(r.ok);
  assert.deepEqual(r.value, { host: '10.0.0.5', port: 8080, priority: 10, weight: 100, text: 't', mail: true, ttl: 15, targetstrip: 1, group: 'g' });
  assert.deepEqual(parseSkyRecord('{"text":"only text"}'), { ok: true, value: { text: 'only text' } });
  for (const bad of ['not json', '[]', '"s"', '{}', '{"host":5}', '{"host":"a","port":-1}', '{"host":"a","ttl":"x"}', '{"host":"a","mail":"yes"}', '{"host":"a..b"}', '{"host":"' + 'x'.repeat(64) + '.com"}', '{"host":"has space"}']) {
    assert.equal(parseSkyRecord(bad).ok, false, bad);
  }
});

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { authorizationHeader, formatBatch } from '../../../proxy/audit/siem-format.js';

const entries = [
  { seq: 1, timeMs: 1_795_000_000_123, line: '{"a":1,"seq":1}' },
  { seq: 2, timeMs: 1_795_000_000_456, line: '{"a":2,"seq":2}' },
];

test('json: one array per POST', () => {
  const b = formatBatch('json', entries);
  assert.equal(b.contentType, 'application/json');
  assert.deepEqual(JSON.parse(b.body), [{ a: 1, seq: 1 }, { a: 2, seq: 2 }]);
});

test('splunk-hec: event objects with epoch time and sourcetype, one per line', () => {
  const b = formatBatch('splunk-hec', entries);
  const events = b.body.split('\n').map((l) => JSON.parse(l) as { event: unknown; time: number; sourcetype: string });
  assert.equal(events.length, 2);
  assert.deepEqual(events[0], { event: { a: 1, seq: 1 }, sourcetype: 'warden:audit', time: 1_795_000_000.123 });
});

test('elastic-bulk: NDJSON action + document pairs ending in a newline', () => {
  const b = formatBatch('elastic-bulk', entries);
  assert.equal(b.contentType, 'application/x-ndjson');
  assert.equal(b.body, '{"index":{}}\n{"a":1,"seq":1}\n{"index":{}}\n{"a":2,"seq":2}\n');
});

const auth: Array<[format: 'json' | 'splunk-hec' | 'elastic-bulk', token: string, header: string]> = [
  ['splunk-hec', 'abc', 'Splunk abc'],
  ['json', 'abc', 'Bearer abc'],
  ['elastic-bulk', 'ApiKey Zm9vOmJhcg==', 'ApiKey Zm9vOmJhcg=='],
  ['json', 'Basic dTpw', 'Basic dTpw'],
];
for (const [format, token, header] of auth) {
  test(`authorization for ${format} with ${header.split(' ')[0]}`, () => assert.equal(authorizationHeader(format, token), header));
}

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { toOcsf } from '../../../proxy/audit/ocsf.js';
import type { OcsfInput } from '../../../proxy/audit/ocsf.js';
import { requestRecord } from './audit-fixtures.js';

const base = { time: '2026-11-22T05:30:00.000Z', seq: 7, prev: '0'.repeat(64) };

const methods: Array<[method: string, activityId: number]> = [
  ['GET', 3], ['POST', 6], ['PUT', 7], ['DELETE', 2], ['HEAD', 4], ['OPTIONS', 5], ['TRACE', 8], ['CONNECT', 1], ['PATCH', 99],
];
for (const [method, activityId] of methods) {
  test(`toOcsf request ${method} → activity_id ${activityId}`, () => {
    const e = toOcsf({ ...requestRecord(1), ...base, method } as OcsfInput);
    assert.equal(e.class_uid, 4002);
    assert.equal(e.category_uid, 4);
    assert.equal(e.activity_id, activityId);
    assert.equal(e.type_uid, 400200 + activityId);
  });
}

test('toOcsf request: endpoint, url, actor, disposition, time, metadata, unmapped', () => {
  const e = toOcsf({ ...requestRecord(1), ...base, decision: 'block', status: 403 } as OcsfInput) as Record<string, any>;
  assert.equal(e['time'], Date.parse(base.time));
  assert.deepEqual(e['http_request'].url, { hostname: 'api.openai.com', path: '/v1/chat/completions', port: 443, url_string: 'https://api.openai.com/v1/chat/completions?user=***' });
  assert.equal(e['http_request'].http_method, 'POST');
  assert.deepEqual(e['dst_endpoint'], { ip: '104.18.7.192', port: 443, hostname: 'api.openai.com' });
  assert.deepEqual(e['actor'], { user: { uid: 'agent-7' } });
  assert.equal(e['action_id'], 2);
  assert.equal(e['disposition_id'], 2);
  assert.equal(e['status_code'], '403');
  assert.equal(e['metadata'].version, '1.1.0');
  assert.deepEqual(e['metadata'].product, { name: 'Warden', vendor_name: 'Warden' });
  assert.equal(e['unmapped'].seq, 7);
  assert.deepEqual(e['unmapped'].findings, requestRecord(1).findings);
});

test('toOcsf: allow is Allowed, redact is allowed with a Redacted disposition', () => {
  const allow = toOcsf({ ...requestRecord(1), ...base, decision: 'allow' } as OcsfInput);
  assert.equal(allow['action_id'], 1);
  assert.equal(allow['disposition_id'], 1);
  const redact = toOcsf({ ...requestRecord(1), ...base, decision: 'redact' } as OcsfInput);
  assert.equal(redact['action_id'], 1);
  assert.equal(redact['disposition'], 'Redacted');
});

test('toOcsf alert → Detection Finding with severity', () => {
  const e = toOcsf({ ...base, event: 'alert', id: 'a1', agent: 'agent-7', profile: null, severity: 'critical', reason: 'honeytoken', decision: 'alert' });
  assert.equal(e.class_uid, 2004);
  assert.equal(e.category_uid, 2);
  assert.equal(e.severity_id, 5);
  assert.equal((e['finding_info'] as { title: string }).title, 'honeytoken');
});

test('toOcsf other events → Base Event keeping the Warden record', () => {
  const e = toOcsf({ ...base, event: 'checkpoint', id: 'c', agent: null, profile: null, detail: { first_seq: 1, last_seq: 6 } });
  assert.equal(e.class_uid, 0);
  assert.equal(e.unmapped['event'], 'checkpoint');
  assert.deepEqual(e.unmapped['detail'], { first_seq: 1, last_seq: 6 });
});

/**
 * Findings of many scans (the messages of one WebSocket) summed into one bounded list.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditFinding } from '../../../proxy/audit/events.js';
import { FindingTally, MAX_FINDINGS, relabelFindings } from '../../../proxy/dlp/findings.js';

const f = (type: string, where: string, fp: string, count = 1, action: AuditFinding['action'] = 'redact'): AuditFinding => ({ type, where, fp, count, action, sample: `s-${fp}` });

test('relabelFindings: body paths name the channel, other paths stay', () => {
  const cases: [string, string, string][] = [
    ['body', 'message', 'message'],
    ['body.messages[0].content', 'message', 'message.messages[0].content'],
    ['body', 'ping', 'ping'],
    ['header:x-api-key', 'message', 'header:x-api-key'],
  ];
  for (const [where, label, want] of cases) assert.equal(relabelFindings([f('t', where, 'a')], label)[0]!.where, want);
});

test('FindingTally: one entry per value and place, counts summed across scans', () => {
  const t = new FindingTally();
  t.add([f('us_ssn', 'body.text', 'aa'), f('email', 'body', 'bb')], 'message');
  t.add([f('us_ssn', 'body.text', 'aa', 2)], 'message');
  t.add([f('us_ssn', 'body.text', 'cc')], 'message');
  t.add([f('us_ssn', 'body', 'aa')], 'ping');
  assert.deepEqual(t.list().map((x) => [x.type, x.where, x.fp, x.count]), [
    ['us_ssn', 'message.text', 'aa', 3],
    ['email', 'message', 'bb', 1],
    ['us_ssn', 'message.text', 'cc', 1],
    ['us_ssn', 'ping', 'aa', 1],
  ]);
  assert.equal(t.size, 4);
});

test('FindingTally: past MAX_FINDINGS values, one entry per (type, where, action) with the total', () => {
  const t = new FindingTally();
  for (let i = 0; i < MAX_FINDINGS + 10; i++) t.add([f('email', 'body', `fp${i}`), f('us_ssn', 'body', `s${i}`, 1, 'block')], 'message');
  t.add([f('email', 'body', 'later', 5)], 'message');
  const list = t.list();
  assert.deepEqual(list.map((x) => [x.type, x.where, x.action, x.count]), [
    ['email', 'message', 'redact', MAX_FINDINGS + 15],
    ['us_ssn', 'message', 'block', MAX_FINDINGS + 10],
  ]);
  assert.equal(list[0]!.fp, 'fp0', 'the first value\'s fingerprint and sample are kept');
});

/**
 * Host names and CONNECT targets are agent-chosen text that every audit record of a request
 * holds: a segment in which a detector finds something is starred (audit/mask-host.ts).
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthorityMasker, starSegments } from '../../../proxy/audit/mask-host.js';
import type { AuditRecordInput } from '../../../proxy/audit/events.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { sensitiveSpans } from '../../../proxy/dlp/sensitive.js';

const HONEY = 'warden-canary-2c9e4b7a1d3f';
const detectors = compileDetectors({ honeytokens: [{ id: 'h', value: HONEY, sha256: null }], fingerprintKey: Buffer.alloc(32) });
const AWS = 'AKIAQWERTYUIOPASDFGH';

test('starSegments: every segment a span overlaps, and only those', () => {
  const cases: [text: string, spans: [number, number][], expected: string][] = [
    ['a.b.c', [], 'a.b.c'],
    ['aa.bb.cc', [[3, 5]], 'aa.*.cc'],
    ['aa.bb.cc', [[4, 7]], 'aa.*.*'], // across a dot (a JWT's parts, say)
    ['aa.bb.cc:443', [[0, 2]], '*.bb.cc:443'],
    ['[::1]:80', [], '[::1]:80'],
    ['x@y.z', [[0, 1]], '*@y.z'],
    ['', [[0, 1]], ''],
  ];
  for (const [text, spans, expected] of cases) assert.equal(starSegments(text, spans).text, expected, text);
});

test('hosts and CONNECT targets: sensitive labels starred, others as written', () => {
  const m = new AuthorityMasker(sensitiveSpans(detectors), new Set(['api.openai.com']));
  const cases: [string, string][] = [
    ['api.openai.com', 'api.openai.com'],
    ['api.openai.com:443', 'api.openai.com:443'],
    [`${AWS}.attacker.example:443`, '*.attacker.example:443'],
    [`536-22-8143.attacker.example`, '*.attacker.example'],
    [`x.${HONEY}.attacker.example`, 'x.*.attacker.example'],
    // DNS exfiltration's usual form: the value hex-encoded in a label.
    [`${Buffer.from('the ssn is 536-22-8143').toString('hex')}.attacker.example`, '*.attacker.example'],
    ['4539578763621486.cdn.example:8443', '*.cdn.example:8443'],
    // Not a host at all (a CONNECT target that does not parse is recorded as sent).
    [`ghp_${'A1b2C3d4E5'.repeat(3)}abcdef:443`, '*:443'],
  ];
  for (const [text, expected] of cases) assert.equal(m.mask(text).text, expected, text);
});

test('common host names are never starred (no false positive in the audit host)', () => {
  const m = new AuthorityMasker(sensitiveSpans(detectors), new Set());
  const hosts = [
    'api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'oaidalleapiprodscus.blob.core.windows.net',
    'my-resource-1234.openai.azure.com', 'bedrock-runtime.us-east-1.amazonaws.com', 'd1a2b3c4d5e6f7.cloudfront.net',
    'my-bucket-2024-11-22.s3.us-west-2.amazonaws.com', 'objects.githubusercontent.com', 'registry.npmjs.org',
    'files.pythonhosted.org', 'huggingface.co', 'cdn-lfs-us-1.hf.co', 'ec2-54-123-45-67.compute-1.amazonaws.com',
    'a1b2c3d4e5f6a7b8c9d0.execute-api.eu-west-1.amazonaws.com', '127.0.0.1', '[2001:db8::1]:443', 'xn--bcher-kva.example',
  ];
  for (const h of hosts) assert.equal(m.mask(h).text, h, h);
});

test('a record: host and URL authority masked; a label found in the raw target is starred in the lower-cased host', () => {
  const m = new AuthorityMasker(sensitiveSpans(detectors), new Set());
  const base = { event: 'connect', id: 'i', agent: null, profile: 'default' } as const;
  const connect: AuditRecordInput = { ...base, method: 'CONNECT', url: `${AWS}.attacker.example:443`, host: `${AWS.toLowerCase()}.attacker.example`, port: 443 };
  const out = m.maskRecord(connect);
  assert.equal(out.url, '*.attacker.example:443');
  assert.equal(out.host, '*.attacker.example');
  assert.equal(out.port, 443);

  const req: AuditRecordInput = { ...base, event: 'request', method: 'GET', url: 'https://536-22-8143.attacker.example/v1/x?q=***', host: '536-22-8143.attacker.example' };
  const r2 = m.maskRecord(req);
  assert.equal(r2.url, 'https://*.attacker.example/v1/x?q=***');
  assert.equal(r2.host, '*.attacker.example');

  const clean: AuditRecordInput = { ...base, event: 'request', method: 'GET', url: '/v1/models', host: 'api.openai.com' };
  assert.equal(m.maskRecord(clean), clean, 'unchanged records are passed as they are');
  const noHost: AuditRecordInput = { ...base, event: 'config' };
  assert.equal(m.maskRecord(noHost), noHost);
  assert.ok(!('url' in m.maskRecord({ ...base, host: '536-22-8143.x.example' })), 'absent fields stay absent');
});

test('a configured host is recorded as written without a scan; results are cached', () => {
  let scans = 0;
  const m = new AuthorityMasker((t) => { scans++; return t.includes('secret') ? [[0, t.length]] : []; }, new Set(['secret.example']));
  assert.equal(m.mask('secret.example:443').text, 'secret.example:443');
  assert.equal(m.mask('SECRET.example').text, 'SECRET.example');
  assert.equal(scans, 0);
  assert.equal(m.mask('secret.other').text, '*.*');
  assert.equal(m.mask('secret.other').text, '*.*');
  assert.equal(m.mask('secret.other:8443').text, '*.*:8443');
  assert.equal(scans, 1, 'a port is kept aside: host and host:port are one scan');
  assert.equal(m.mask('[2001:db8::1]:443').text, '[2001:db8::1]:443');
  assert.equal(m.mask('2001:db8::1').text, '2001:db8::1', 'a bare IPv6 address has no port');
});

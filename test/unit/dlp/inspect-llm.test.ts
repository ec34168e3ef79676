/**
 * Real LLM request shapes (test/fixtures/llm-requests/) through the real detectors: the
 * redacted body parses, only the planted values changed, and the structure is identical.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { InspectResult } from '../../../proxy/dlp/types.js';
import { ROOT } from '../../../proxy/paths.js';
import { policy, request } from './inspect-helpers.js';

const SSN = '536-90-4399';
const CARD = '4556 7375 8689 9855';
const CARD_REDACTED = '**** **** **** 9855';
const FIXTURES = join(ROOT, 'test', 'fixtures', 'llm-requests');

const detectors = compileDetectors({ honeytokens: [{ id: 'canary', value: 'AKIAWARDENCANARY7Q2X', sha256: null }], fingerprintKey: Buffer.from('test') });
const engine = createDlpEngine(detectors);
const pol = policy({ packs: detectors.packNames, bulkPiiThreshold: 10 });

/** Apply `f` to every string (not keys) of a JSON value, re-parsing strings that hold JSON. */
function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}
const redacted = (s: string): string => s.replaceAll(SSN, '[REDACTED:us_ssn]').replaceAll(CARD, CARD_REDACTED);

function assertSafeAudit(r: InspectResult): void {
  const audit = JSON.stringify({ findings: r.findings, detail: r.uninspectableDetail });
  assert.ok(!audit.includes(SSN) && !audit.includes(CARD) && !audit.includes('4556737586899855'), 'no plaintext in findings');
}

const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();

test('the fixture set covers the four API shapes', () => {
  assert.deepEqual(fixtures, ['anthropic-messages.json', 'gemini-generate-content.json', 'openai-chat-completions.json', 'openai-responses.json']);
});

for (const file of fixtures) {
  const original = readFileSync(join(FIXTURES, file));
  for (const [variant, headers, body, decode] of [
    ['plain', {}, original, (b: Buffer) => b],
    ['gzip', { 'content-encoding': 'gzip' }, zlib.gzipSync(original), (b: Buffer) => zlib.gunzipSync(b)],
  ] as const) {
    test(`${file} (${variant}): redacted, still valid, nothing else changed`, () => {
      const r = engine.inspect(request(body, headers), pol);
      assert.equal(r.decision, 'redact');
      assert.equal(r.reason, null);
      assert.ok(r.body !== null);
      assert.equal(r.headers?.['content-length'], String(r.body.length));
      const text = decode(r.body).toString('utf8');
      assert.ok(!text.includes(SSN) && !text.includes(CARD));
      // Only the planted substrings changed: the raw text equals the original with them
      // replaced (nested JSON strings such as tool-call arguments included)...
      assert.equal(text, redacted(original.toString('utf8')));
      // ...and the structure is the same tree with the same strings, redacted.
      assert.deepEqual(JSON.parse(text), mapStrings(JSON.parse(original.toString('utf8')), redacted));
      assert.ok(r.findings.length >= 2);
      assert.ok(r.findings.every((f) => f.action === 'redact' && (f.type === 'us_ssn' || f.type === 'credit_card')));
      assertSafeAudit(r);
    });
  }
}

test('openai chat: findings point into tool-call arguments and content parts', () => {
  const r = engine.inspect(request(readFileSync(join(FIXTURES, 'openai-chat-completions.json'))), pol);
  const wheres = r.findings.map((f) => `${f.type}@${f.where}`);
  assert.ok(wheres.includes('us_ssn@body.messages[2].tool_calls[0].function.arguments.ssn'), wheres.join(' '));
  assert.ok(wheres.includes('credit_card@body.messages[4].content[0].text'), wheres.join(' '));
});

test('anthropic: tool_use.input object and tool_result content array are inspected', () => {
  const r = engine.inspect(request(readFileSync(join(FIXTURES, 'anthropic-messages.json'))), pol);
  const wheres = r.findings.map((f) => `${f.type}@${f.where}`);
  assert.ok(wheres.includes('credit_card@body.messages[1].content[1].input.card_number'), wheres.join(' '));
  assert.ok(wheres.includes('us_ssn@body.messages[2].content[0].content[0].text'), wheres.join(' '));
});

const evasions: Array<[name: string, content: string, type: string, expected: string]> = [
  ['zero-width spaces inside a card', 'card 4556\u200B7375\u200B8689\u200B9855 thanks', 'credit_card', 'card ************9855 thanks'],
  ['Unicode dashes in an SSN', 'ssn 536\u201090\u20134399 thanks', 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['minus signs in an SSN', 'ssn 536\u221290\u22124399 thanks', 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['NBSP-separated SSN', 'ssn 536\u00A090\u00A04399 thanks', 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['fullwidth digits', 'ssn \uFF15\uFF13\uFF16-\uFF19\uFF10-\uFF14\uFF13\uFF19\uFF19 thanks', 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['email behind \\u0040', 'mail bob\\u0040example.com', 'email', 'mail [REDACTED:email]'],
  ['email percent-encoded', 'https://x.test/?to=bob%40example.com', 'email', 'https://x.test/?to=%5BREDACTED%3Aemail%5D'],
  // Red team, session 14: invisible and decorating characters outside the first list.
  ['tag characters inside an SSN', 'ssn 5\u{E0020}36-90-43\u{E0001}99 thanks', 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['variation selector 17 inside a card', 'card 4556 73\u{E0100}75 8689 9855 thanks', 'credit_card', 'card **** **** **** 9855 thanks'],
  ['strikethrough on every digit of an SSN', `ssn ${[...'536-90-4399'].map((c) => `${c}\u0336`).join('')} thanks`, 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
  ['keycap digits in an SSN', `ssn ${[...'536904399'].map((c) => `${c}\uFE0F\u20E3`).join('')} thanks`, 'us_ssn', 'ssn [REDACTED:us_ssn] thanks'],
];
for (const [name, content, type, expected] of evasions) {
  test(`real detectors see through ${name}`, () => {
    const raw = `{"messages":[{"role":"user","content":"${content}"}]}`;
    const r = engine.inspect(request(raw), pol);
    assert.equal(r.decision, 'redact');
    assert.deepEqual(r.findings.map((f) => f.type), [type]);
    const out = JSON.parse(r.body?.toString('utf8') ?? '') as { messages: [{ content: string }] };
    assert.equal(out.messages[0].content, expected.replace(/\\u0040/g, '@'));
    assertSafeAudit(r);
  });
}

test('a planted honeytoken blocks whatever the policy says', () => {
  const raw = JSON.stringify({ messages: [{ role: 'user', content: 'use key AKIAWARDENCANARY7Q2X please' }] });
  const r = engine.inspect(request(raw), { ...pol, actions: { honeytoken: 'log' }, defaultAction: 'log' });
  assert.deepEqual([r.decision, r.reason, r.honeytokenIds], ['block', 'honeytoken', ['canary']]);
});

test('a private key in a tool result blocks', () => {
  const key = `-----BEGIN RSA PRIVATE KEY-----\n${'MIIEowIBAAKCAQEA7bq9'.repeat(8)}\n-----END RSA PRIVATE KEY-----`;
  const raw = JSON.stringify({ messages: [{ role: 'tool', content: `cat id_rsa\n${key}` }] });
  const r = engine.inspect(request(raw), pol);
  assert.deepEqual([r.decision, r.reason], ['block', 'dlp']);
  assert.deepEqual(r.findings.map((f) => f.type), ['private_key']);
});

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CompiledAllowRule, CompiledProfile } from '../../../proxy/config/types.js';
import { compileProfileIndex, decideDestination, decideRequest, overrideReadings, refusedOverride } from '../../../proxy/policy/decide.js';

type RuleSpec = Partial<Omit<CompiledAllowRule, 'id' | 'host'>> & { host: string };

function profile(allow: RuleSpec[], deny: string[] = []): CompiledProfile {
  return {
    name: 'test',
    allow: allow.map((spec, i) => ({
      id: `profiles.test.allow[${i}]`,
      ports: [443, 80],
      methods: null,
      paths: null,
      inspect: true,
      credentialHeaders: [],
      requests: null,
      ...spec,
    })),
    deny: deny.map((host, i) => ({ id: `profiles.test.deny[${i}]`, host })),
    limits: { maxBodyBytes: null, upload: null, requests: null },
    dlp: { packs: [], actions: {}, defaultAction: null, bulkPiiThreshold: null, uninspectable: 'block', maxInspectBytes: 1 << 20 },
  };
}

const P = profile([
  /* 0 */ { host: 'api.openai.com' },
  /* 1 */ { host: '*.anthropic.com', ports: [443], inspect: false },
  /* 2 */ { host: 'api.anthropic.com', ports: [443], methods: ['POST'], paths: ['/v1/*'] },
  /* 3 */ { host: 'uploads.example.com', ports: [8443], methods: ['PUT', 'POST'], paths: ['/files/*', '/v2/upload'] },
  /* 4 */ { host: 'uploads.example.com', ports: [8443], methods: ['GET'], paths: null },
  /* 5 */ { host: '*.example.com', ports: [443] },
  /* 6 */ { host: '10.0.0.5', ports: [9000], inspect: false },
  /* 7 */ { host: '::1', ports: [9001] },
  /* 8 */ { host: 'xn--bcher-kva.example', ports: [443] },
], ['evil.example.com', '*.blocked.example.com', 'api.openai.com.evil.net']);

describe('decideDestination', () => {
  const cases: Array<[name: string, host: string, port: number, action: 'allow' | 'deny', reason: string, ruleId: string | null, inspect: boolean]> = [
    ['exact allow', 'api.openai.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[0]', true],
    ['exact allow, port 80', 'api.openai.com', 80, 'allow', 'allowlisted', 'profiles.test.allow[0]', true],
    ['port not listed', 'api.openai.com', 8443, 'deny', 'not_allowlisted', null, false],
    ['uppercase host normalised', 'API.OpenAI.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[0]', true],
    ['trailing dot normalised', 'api.openai.com.', 443, 'allow', 'allowlisted', 'profiles.test.allow[0]', true],
    ['apex not on the list', 'openai.com', 443, 'deny', 'not_allowlisted', null, false],
    ['suffix trick refused', 'api.openai.com.evil.net', 443, 'deny', 'denylisted', 'profiles.test.deny[2]', false],
    ['unlisted suffix trick refused', 'api.openai.com.attacker.io', 443, 'deny', 'not_allowlisted', null, false],
    ['wildcard: first entry in config order decides inspect', 'api.anthropic.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[1]', false],
    ['wildcard at depth', 'a.b.anthropic.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[1]', false],
    ['wildcard does not match apex', 'anthropic.com', 443, 'deny', 'not_allowlisted', null, false],
    ['wildcard port mismatch', 'api.anthropic.com', 80, 'deny', 'not_allowlisted', null, false],
    ['deny wins over an allow wildcard', 'evil.example.com', 443, 'deny', 'denylisted', 'profiles.test.deny[0]', false],
    ['deny wildcard wins over allow wildcard', 'x.blocked.example.com', 443, 'deny', 'denylisted', 'profiles.test.deny[1]', false],
    ['deny wildcard spares its apex', 'blocked.example.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[5]', true],
    ['allow wildcard', 'www.example.com', 443, 'allow', 'allowlisted', 'profiles.test.allow[5]', true],
    ['non-default port entry', 'uploads.example.com', 8443, 'allow', 'allowlisted', 'profiles.test.allow[3]', true],
    ['IP literal allowed', '10.0.0.5', 9000, 'allow', 'allowlisted', 'profiles.test.allow[6]', false],
    ['IP literal in decimal normalised', '167772165', 9000, 'allow', 'allowlisted', 'profiles.test.allow[6]', false],
    ['IPv6 bracketed', '[::1]', 9001, 'allow', 'allowlisted', 'profiles.test.allow[7]', true],
    ['IDN matches its punycode', 'bücher.example', 443, 'allow', 'allowlisted', 'profiles.test.allow[8]', true],
    ['port 0', 'api.openai.com', 0, 'deny', 'not_allowlisted', null, false],
    ['port 65536', 'api.openai.com', 65536, 'deny', 'not_allowlisted', null, false],
    ['fractional port', 'api.openai.com', 443.5, 'deny', 'not_allowlisted', null, false],
    ['garbage host', 'api.openai.com\r\nX: y', 443, 'deny', 'not_allowlisted', null, false],
    ['empty host', '', 443, 'deny', 'not_allowlisted', null, false],
  ];
  for (const [name, host, port, action, reason, ruleId, inspect] of cases) {
    test(name, () => {
      const d = decideDestination(P, host, port);
      assert.deepEqual({ action: d.action, reason: d.reason, ruleId: d.ruleId, inspect: d.inspect }, { action, reason, ruleId, inspect });
      assert.equal(d.rule?.id ?? null, d.action === 'allow' ? ruleId : null);
    });
  }
});

describe('decideRequest', () => {
  const cases: Array<[name: string, host: string, port: number, method: string, path: string, reason: string, ruleId: string | null]> = [
    ['any method and path', 'api.openai.com', 443, 'DELETE', '/anything', 'allowlisted', 'profiles.test.allow[0]'],
    ['first accepting entry reported', 'api.anthropic.com', 443, 'POST', '/v1/messages', 'allowlisted', 'profiles.test.allow[1]'],
    ['method list', 'uploads.example.com', 8443, 'PUT', '/files/a.bin', 'allowlisted', 'profiles.test.allow[3]'],
    ['method upper-cased', 'uploads.example.com', 8443, 'put', '/files/a.bin', 'allowlisted', 'profiles.test.allow[3]'],
    ['second entry accepts another method', 'uploads.example.com', 8443, 'GET', '/anything', 'allowlisted', 'profiles.test.allow[4]'],
    ['method refused', 'uploads.example.com', 8443, 'DELETE', '/files/a.bin', 'request_not_allowed', null],
    ['path refused', 'uploads.example.com', 8443, 'POST', '/admin', 'request_not_allowed', null],
    ['exact path', 'uploads.example.com', 8443, 'POST', '/v2/upload', 'allowlisted', 'profiles.test.allow[3]'],
    ['query ignored for the glob', 'uploads.example.com', 8443, 'POST', '/v2/upload?x=/files/', 'allowlisted', 'profiles.test.allow[3]'],
    ['query cannot satisfy the glob', 'uploads.example.com', 8443, 'POST', '/admin?/files/x', 'request_not_allowed', null],
    ['fragment ignored', 'uploads.example.com', 8443, 'POST', '/v2/upload#frag', 'allowlisted', 'profiles.test.allow[3]'],
    ['dot-dot escape refused', 'uploads.example.com', 8443, 'POST', '/files/../admin', 'request_not_allowed', null],
    ['encoded dot-dot refused', 'uploads.example.com', 8443, 'POST', '/files/%2E%2e/admin', 'request_not_allowed', null],
    // Red team, session 14: Tomcat and Spring read `..;` (a path parameter) as `..`; some servers decode twice.
    ['dot-dot with a path parameter refused', 'uploads.example.com', 8443, 'POST', '/files/..;/admin', 'request_not_allowed', null],
    ['dot-dot with a parameter and a value refused', 'uploads.example.com', 8443, 'POST', '/files/..;jsessionid=1/admin', 'request_not_allowed', null],
    ['dot-dot with an encoded semicolon refused', 'uploads.example.com', 8443, 'POST', '/files/%2e%2e%3B/admin', 'request_not_allowed', null],
    ['double-encoded dot-dot refused', 'uploads.example.com', 8443, 'POST', '/files/%252e%252e/admin', 'request_not_allowed', null],
    ['a path parameter on a plain segment is fine', 'uploads.example.com', 8443, 'POST', '/files/a.bin;v=1', 'allowlisted', 'profiles.test.allow[3]'],
    ['encoded slash refused', 'uploads.example.com', 8443, 'POST', '/files/..%2fadmin', 'request_not_allowed', null],
    ['backslash refused', 'uploads.example.com', 8443, 'POST', '/files/..\\admin', 'request_not_allowed', null],
    ['dot-dot fine without path rules', 'uploads.example.com', 8443, 'GET', '/x/../y', 'allowlisted', 'profiles.test.allow[4]'],
    ['dots inside a name are fine', 'uploads.example.com', 8443, 'POST', '/files/a..b', 'allowlisted', 'profiles.test.allow[3]'],
    ['asterisk-form path refused by globs', 'uploads.example.com', 8443, 'POST', '*', 'request_not_allowed', null],
    ['host not listed', 'other.net', 443, 'GET', '/', 'not_allowlisted', null],
    ['another port falls to the wildcard entry', 'uploads.example.com', 443, 'GET', '/', 'allowlisted', 'profiles.test.allow[5]'],
    ['denylisted', 'evil.example.com', 443, 'GET', '/', 'denylisted', 'profiles.test.deny[0]'],
    ['bad port', 'api.openai.com', 0, 'GET', '/', 'not_allowlisted', null],
  ];
  for (const [name, host, port, method, path, reason, ruleId] of cases) {
    test(name, () => {
      const d = decideRequest(P, host, port, method, path);
      assert.deepEqual({ action: d.action, reason: d.reason, ruleId: d.ruleId },
        { action: reason === 'allowlisted' ? 'allow' : 'deny', reason, ruleId });
    });
  }
});

describe('compileProfileIndex', () => {
  test('is cached per profile object', () => {
    assert.equal(compileProfileIndex(P), compileProfileIndex(P));
    assert.notEqual(compileProfileIndex(profile([{ host: 'a.example' }])), compileProfileIndex(P));
  });

  // Speed is measured in test/bench (no timed assertions here); this checks the index is right at scale.
  test('10k rules: decisions stay correct', () => {
    const rules: RuleSpec[] = [];
    for (let i = 0; i < 10_000; i++) rules.push(i % 2 ? { host: `*.d${i}.example.net` } : { host: `h${i}.example.com`, paths: ['/v1/*'] });
    const big = profile(rules, ['*.bad.example.net']);
    assert.equal(decideDestination(big, 'x.d9999.example.net', 443).ruleId, 'profiles.test.allow[9999]');
    assert.equal(decideRequest(big, 'h9998.example.com', 443, 'GET', '/v1/x').ruleId, 'profiles.test.allow[9998]');
    assert.equal(decideRequest(big, 'h9998.example.com', 443, 'GET', '/v2/x').reason, 'request_not_allowed');
    for (let i = 0; i < 2_000; i++) {
      const odd = (i * 2 + 1) % 10_000;
      const even = (i * 2) % 10_000;
      assert.equal(decideDestination(big, `a.b.d${odd}.example.net`, 443).ruleId, `profiles.test.allow[${odd}]`);
      assert.equal(decideRequest(big, `h${even}.example.com`, 443, 'POST', '/v1/chat').ruleId, `profiles.test.allow[${even}]`);
    }
  });
});

describe('overrideReadings (red team, session 14: X-HTTP-Method-Override and X-Original-URL pass a methods or paths rule)', () => {
  test('each override header gives a reading; none gives none', () => {
    assert.deepEqual(overrideReadings({ accept: '*/*' }, 'POST', '/v1/messages'), []);
    assert.deepEqual(overrideReadings({ 'x-http-method-override': 'delete' }, 'POST', '/v1/x'), [{ header: 'x-http-method-override', method: 'DELETE', path: '/v1/x' }]);
    assert.deepEqual(overrideReadings({ 'x-original-url': '/admin?x=1' }, 'POST', '/v1/x'), [{ header: 'x-original-url', method: 'POST', path: '/admin' }]);
    assert.deepEqual(overrideReadings({ 'x-rewrite-url': 'https://h.example/admin/users' }, 'GET', '/v1/x'), [{ header: 'x-rewrite-url', method: 'GET', path: '/admin/users' }]);
  });
  const cases: Array<[name: string, headers: Record<string, string>, allowed: boolean]> = [
    ['an allowed method under the override', { 'x-http-method-override': 'POST' }, true],
    ['a method the entry does not allow', { 'x-http-method-override': 'DELETE' }, false],
    ['X-HTTP-Method, another spelling', { 'x-http-method': 'PATCH' }, false],
    ['a path inside the glob', { 'x-original-url': '/files/b.bin' }, true],
    ['a path outside the glob', { 'x-original-url': '/admin' }, false],
    ['a path with dot segments', { 'x-rewrite-url': '/files/../admin' }, false],
  ];
  for (const [name, headers, allowed] of cases) {
    test(`every reading must be allowed: ${name}`, () => {
      // Entries 3 and 4: uploads.example.com:8443, PUT/POST on /files/* and /v2/upload, GET anywhere.
      assert.equal(decideRequest(P, 'uploads.example.com', 8443, 'POST', '/files/a.bin').action, 'allow');
      const ok = overrideReadings(headers, 'POST', '/files/a.bin').every((r) => decideRequest(P, 'uploads.example.com', 8443, r.method, r.path).action === 'allow');
      assert.equal(ok, allowed);
      const refused = refusedOverride(P, 'uploads.example.com', 8443, headers, 'POST', '/files/a.bin');
      assert.deepEqual(refused, allowed ? null : { header: Object.keys(headers)[0], reason: 'request_not_allowed' });
    });
  }
  const refusals: Array<[name: string, headers: Record<string, string | string[]>, method: string, path: string, refused: { header: string; reason: string } | null]> = [
    ['no override header', { accept: '*/*', 'x-forwarded-for': '10.0.0.1' }, 'POST', '/files/a.bin', null],
    ['the first refused reading wins (method headers are read first)', { 'x-original-url': '/admin', 'x-method-override': 'DELETE' }, 'POST', '/files/a.bin', { header: 'x-method-override', reason: 'request_not_allowed' }],
    ['a repeated header: every value is a reading', { 'x-rewrite-url': ['/files/b.bin', '/admin'] }, 'POST', '/files/a.bin', { header: 'x-rewrite-url', reason: 'request_not_allowed' }],
    ['an absolute URL is read for its path', { 'x-original-url': 'https://uploads.example.com/v2/upload?x=1' }, 'PUT', '/files/a.bin', null],
    ['a GET entry without paths allows any path under GET', { 'x-original-url': '/anything' }, 'GET', '/x', null],
  ];
  for (const [name, headers, method, path, refused] of refusals) {
    test(`refusedOverride: ${name}`, () => {
      assert.deepEqual(refusedOverride(P, 'uploads.example.com', 8443, headers, method, path), refused);
    });
  }
});

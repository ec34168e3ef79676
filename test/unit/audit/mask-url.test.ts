/**
 * The audit `url`: query values always masked, userinfo dropped; with a DLP check, the path
 * segments and query keys it flags are starred too.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskUrl } from '../../../proxy/audit/mask-url.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { sensitiveSpans, sensitiveTo } from '../../../proxy/dlp/sensitive.js';

// A stand-in for the DLP check: anything holding "SECRET" (decoded) is sensitive.
const sensitive = (t: string): boolean => t.includes('SECRET');

test('maskUrl: table', () => {
  const cases: [string, string, string, string][] = [
    // [name, url, without the check, with it]
    ['query values', 'https://h/p?a=1&b=2', 'https://h/p?a=***&b=***', 'https://h/p?a=***&b=***'],
    ['userinfo and fragment', 'https://u:pw@h/p#f', 'https://h/p', 'https://h/p'],
    ['a path segment', 'https://h/v1/files/SECRET/content', 'https://h/v1/files/SECRET/content', 'https://h/v1/files/*/content'],
    ['a percent-encoded segment', 'https://h/v1/%53ECRET', 'https://h/v1/%53ECRET', 'https://h/v1/*'],
    ['a segment percent-encoded twice', 'https://h/v1/%2553ECRET', 'https://h/v1/%2553ECRET', 'https://h/v1/*'],
    ['a query key percent-encoded three times', 'https://h/p?%252553ECRET=1', 'https://h/p?%252553ECRET=***', 'https://h/p?*=***'],
    ['a query key', 'https://h/p?SECRET=1&ok=2', 'https://h/p?SECRET=***&ok=***', 'https://h/p?*=***&ok=***'],
    ['a key without a value', 'https://h/p?SECRET', 'https://h/p?***', 'https://h/p?***'],
    ['the host is left as it is', 'https://SECRET.h/p', 'https://SECRET.h/p', 'https://SECRET.h/p'],
    ['origin-form', '/a/SECRET?x=1', '/a/SECRET?x=***', '/a/*?x=***'],
    ['invalid percent-encoding', 'https://h/%E0%A4%A/SECRET', 'https://h/%E0%A4%A/SECRET', 'https://h/%E0%A4%A/*'],
    ['nothing sensitive', 'https://h/v1/chat/completions', 'https://h/v1/chat/completions', 'https://h/v1/chat/completions'],
  ];
  for (const [name, url, plain, checked] of cases) {
    assert.equal(maskUrl(url), plain, `${name} (no check)`);
    assert.equal(maskUrl(url, sensitive), checked, `${name} (checked)`);
  }
});

test('maskUrl with the real check: what the engine reads through (zero-width, fullwidth, nested encodings) is starred too', () => {
  const HONEY = 'wdn-canary-7f3k9q2x8v';
  const detectors = compileDetectors({ honeytokens: [{ id: 'h', value: HONEY, sha256: null }], fingerprintKey: Buffer.alloc(32) });
  const check = sensitiveTo(sensitiveSpans(detectors));
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const cases: [string, string, string][] = [
    ['an SSN with a zero-width space', '/v1/536%E2%80%8B-22-8143/x', '/v1/*/x'],
    ['an SSN in fullwidth digits', '/v1/%EF%BC%95%EF%BC%93%EF%BC%96-22-8143', '/v1/*'],
    ['a honeytoken with a zero-width space', `/v1/wdn%E2%80%8B-${HONEY.slice(4)}`, '/v1/*'],
    ['an SSN as a query key with a zero-width space', '/v1/x?536%E2%80%8B-22-8143=1', '/v1/x?*=***'],
    ['an AWS key id base64-encoded twice', `/v1/${b64(b64('AKIA7ZNGSOKPXYIZFMSR'))}`, '/v1/*'],
    ['an SSN percent-encoded twice', '/v1/%2535%2533%2536-22-8143', '/v1/*'],
    ['a plain path', '/v1/chat/completions', '/v1/chat/completions'],
    ['a path with an id and a digest', '/v1/files/file-abc123/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', '/v1/files/file-abc123/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
  ];
  for (const [name, url, want] of cases) assert.equal(maskUrl(url, check), want, name);
});

/**
 * The audit `url`: query values always masked, userinfo dropped; with a DLP check, the path
 * segments and query keys it flags are starred too.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskUrl } from '../../../proxy/audit/mask-url.js';

// A stand-in for the DLP check: anything holding "SECRET" (decoded) is sensitive.
const sensitive = (t: string): boolean => t.includes('SECRET');

test('maskUrl: table', () => {
  const cases: [string, string, string, string][] = [
    // [name, url, without the check, with it]
    ['query values', 'https://h/p?a=1&b=2', 'https://h/p?a=***&b=***', 'https://h/p?a=***&b=***'],
    ['userinfo and fragment', 'https://u:pw@h/p#f', 'https://h/p', 'https://h/p'],
    ['a path segment', 'https://h/v1/files/SECRET/content', 'https://h/v1/files/SECRET/content', 'https://h/v1/files/*/content'],
    ['a percent-encoded segment', 'https://h/v1/%53ECRET', 'https://h/v1/%53ECRET', 'https://h/v1/*'],
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

/**
 * endToEndHeaders and the DLP scan agree: every request header the scan skips (views.ts
 * UNSCANNED_HEADERS) is one the proxy does not forward as sent — dropped as hop-by-hop here, or
 * (Host, Content-Length) rewritten by the request path — so no header reaches the upstream
 * unscanned. The two lists live apart; this test keeps them from drifting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNSCANNED_HEADERS } from '../../../proxy/dlp/views.js';
import { endToEndHeaders, requestHeadBytes } from '../../../proxy/server/respond.js';

/** Set by the request path from the checked target and the body it sends (forward-http.ts). */
const REWRITTEN = new Set(['host', 'content-length']);

for (const name of [...UNSCANNED_HEADERS].filter((n) => !REWRITTEN.has(n))) {
  test(`a header the scan skips is not forwarded as sent: ${name}`, () => {
    assert.deepEqual(Object.keys(endToEndHeaders({ [name]: 'x', 'x-kept': 'y' })), ['x-kept']);
  });
}

test('headers named in Connection are dropped too, whatever their case', () => {
  assert.deepEqual(endToEndHeaders({ connection: 'close, X-Exfil', 'x-exfil': 'v', accept: '*/*' }), { accept: '*/*' });
});

// Red team (HTTP), finding 8: the request head was not counted in bytes_up or the upload budget.
test('requestHeadBytes: the request line, one line per header value, the blank line, one byte per character', () => {
  const cases: Array<[name: string, method: string, path: string, headers: Record<string, string | string[] | undefined>, expected: string]> = [
    ['no headers', 'GET', '/', {}, 'GET / HTTP/1.1\r\n\r\n'],
    ['one header', 'POST', '/v1/x?q=1', { host: 'api.example.com' }, 'POST /v1/x?q=1 HTTP/1.1\r\nhost: api.example.com\r\n\r\n'],
    ['a repeated header is a line per value', 'GET', '/', { 'x-a': ['1', '22'] }, 'GET / HTTP/1.1\r\nx-a: 1\r\nx-a: 22\r\n\r\n'],
    ['an absent header is no line', 'GET', '/', { 'x-a': undefined, 'x-b': 'v' }, 'GET / HTTP/1.1\r\nx-b: v\r\n\r\n'],
    // Node gives header bytes >= 0x80 one character per byte: `５` arrives as three characters.
    ['bytes >= 0x80 as Node gives them', 'GET', '/', { 'x-n': Buffer.from('５', 'utf8').toString('latin1') }, 'GET / HTTP/1.1\r\nx-n: \u00ef\u00bc\u0095\r\n\r\n'],
  ];
  for (const [name, method, path, headers, expected] of cases) {
    assert.equal(requestHeadBytes(method, path, headers), Buffer.byteLength(expected, 'latin1'), name);
  }
});

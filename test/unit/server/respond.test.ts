/**
 * endToEndHeaders and the DLP scan agree: every request header the scan skips (views.ts
 * UNSCANNED_HEADERS) is one the proxy does not forward as sent — dropped as hop-by-hop here, or
 * (Host, Content-Length) rewritten by the request path — so no header reaches the upstream
 * unscanned. The two lists live apart; this test keeps them from drifting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNSCANNED_HEADERS } from '../../../proxy/dlp/views.js';
import { endToEndHeaders } from '../../../proxy/server/respond.js';

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

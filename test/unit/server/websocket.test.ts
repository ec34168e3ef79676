/**
 * The WebSocket handshake goes upstream with the headers the DLP scan read and nothing else:
 * hop-by-hop headers and those named in Connection are skipped by the scan, so they are dropped.
 */
import * as assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { upstreamHandshakeHeaders } from '../../../proxy/server/websocket.js';

const SSN = '536-22-8143';
const KEY = 'MDEyMzQ1Njc4OWFiY2RlZg==';
const HANDSHAKE: IncomingHttpHeaders = { host: 'api.test.local', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '13' };
/** What every handshake carries whatever the client sent: Host, the upgrade, Warden's request id. */
const FIXED = ['host: api.test.local', 'connection: Upgrade', 'upgrade: websocket', 'x-request-id: req-1'];

const cases: Array<[name: string, headers: IncomingHttpHeaders, kept: string[]]> = [
  ['a plain handshake', HANDSHAKE, [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['end-to-end headers and the subprotocol are kept', { ...HANDSHAKE, 'sec-websocket-protocol': 'realtime', authorization: 'Bearer x', 'x-note': 'hello' },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13', 'sec-websocket-protocol: realtime', 'authorization: Bearer x', 'x-note: hello']],
  ['hop-by-hop headers are dropped', { ...HANDSHAKE, 'keep-alive': `card ${SSN}`, te: SSN, trailer: SSN, trailers: SSN, 'transfer-encoding': 'chunked', 'http2-settings': SSN, 'proxy-connection': SSN },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['headers named in Connection are dropped, in any case', { ...HANDSHAKE, connection: 'Upgrade, X-Exfil,x-other', 'x-exfil': `ssn ${SSN}`, 'x-other': SSN },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['a Sec-WebSocket header named in Connection is dropped too (the scan skipped it)', { ...HANDSHAKE, connection: 'Upgrade, Sec-WebSocket-Protocol', 'sec-websocket-protocol': SSN },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['proxy headers and extensions are dropped', { ...HANDSHAKE, 'proxy-authorization': 'Basic eDp5', 'proxy-note': 'x', 'sec-websocket-extensions': 'permessage-deflate' },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['the request\'s own Host and X-Request-Id are replaced, and Upgrade written as checked', { ...HANDSHAKE, host: `x-${SSN}.example`, 'x-request-id': 'client-id', upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13']],
  ['repeated values stay one line each', { ...HANDSHAKE, 'set-cookie': ['a=1', 'b=2'] },
    [`sec-websocket-key: ${KEY}`, 'sec-websocket-version: 13', 'set-cookie: a=1', 'set-cookie: b=2']],
];

for (const [name, headers, kept] of cases) {
  test(`upstreamHandshakeHeaders: ${name}`, () => {
    const lines = upstreamHandshakeHeaders(headers, 'api.test.local', 'req-1');
    assert.deepEqual([...lines].sort(), [...FIXED, ...kept].sort());
    assert.ok(!lines.join('\n').includes(SSN));
  });
}

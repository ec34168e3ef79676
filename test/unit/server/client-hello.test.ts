/**
 * The passthrough SNI check (client-hello.ts sniFitsConnectHost). Red team (HTTP), finding 7:
 * a CONNECT to an IP address skipped it, so a ClientHello naming another host was spliced to
 * whatever serves that address (domain fronting).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sniFitsConnectHost } from '../../../proxy/server/client-hello.js';

test('sniFitsConnectHost: a name must be the SNI; an IP address takes no SNI at all', () => {
  const cases: Array<[name: string, sni: string | null, host: string, fits: boolean]> = [
    ['the CONNECT name', 'api.example.com', 'api.example.com', true],
    ['the CONNECT name in upper case', 'API.Example.COM', 'api.example.com', true],
    ['another name', 'evil.example.com', 'api.example.com', false],
    ['no SNI on a name', null, 'api.example.com', false],
    ['no SNI on an IPv4 address (RFC 6066: what clients send)', null, '127.0.0.1', true],
    ['a name on an IPv4 address (fronting)', 'evil.example.com', '127.0.0.1', false],
    ['the address itself on an IPv4 address (forbidden in SNI)', '127.0.0.1', '127.0.0.1', false],
    ['an empty SNI on an IPv4 address', '', '127.0.0.1', false],
    ['no SNI on an IPv6 address', null, '2001:db8::1', true],
    ['a name on an IPv6 address', 'evil.example.com', '2001:db8::1', false],
    ['a name on an IPv4-mapped address', 'evil.example.com', '::ffff:10.0.0.1', false],
  ];
  for (const [name, sni, host, fits] of cases) assert.equal(sniFitsConnectHost(sni, host), fits, name);
});

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compileHostIndex, formatAuthority, hostHeaderFor, hostMatches, normalizeHost, normalizeHostPattern, parseHostPort,
  validateHostPattern, type HostKind,
} from '../../../proxy/policy/host-match.js';

describe('normalizeHost', () => {
  const cases: Array<[name: string, input: string, host: string | null, kind?: HostKind]> = [
    ['lowercase', 'API.Example.COM', 'api.example.com', 'name'],
    ['one trailing dot dropped', 'api.example.com.', 'api.example.com', 'name'],
    ['two trailing dots refused', 'api.example.com..', null],
    ['whitespace trimmed', '  api.example.com\t', 'api.example.com', 'name'],
    ['IDN to punycode', 'bücher.example', 'xn--bcher-kva.example', 'name'],
    ['IDN upper case', 'BÜCHER.example', 'xn--bcher-kva.example', 'name'],
    ['full-width letters and ideographic dot', 'ｅｘａｍｐｌｅ。com', 'example.com', 'name'],
    ['punycode kept', 'xn--bcher-kva.example', 'xn--bcher-kva.example', 'name'],
    ['malformed punycode refused', 'xn--zz.example', null],
    ['underscore in a label', 'a_b.example.com', 'a_b.example.com', 'name'],
    ['underscore in the TLD refused', 'example.co_m', null],
    ['single label', 'localhost', 'localhost', 'name'],
    ['empty refused', '', null],
    ['only spaces refused', '   ', null],
    ['only a dot refused', '.', null],
    ['empty label refused', 'a..example.com', null],
    ['space inside refused', 'ex ample.com', null],
    ['percent refused (would decode to a dot)', 'a%2e.example.com', null],
    ['userinfo refused', 'user@example.com', null],
    ['slash refused', 'example.com/path', null],
    ['backslash refused', 'example.com\\x', null],
    ['NUL refused', 'a\u0000b.com', null],
    ['C1 control refused', 'a\u0085b.com', null],
    ['label of 63 accepted', `${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`, 'name'],
    ['label of 64 refused', `${'a'.repeat(64)}.com`, null],
    ['253 characters accepted', `${'a.'.repeat(125)}com`, `${'a.'.repeat(125)}com`, 'name'],
    ['254 characters refused', `${'a.'.repeat(125)}coma`, null],
    ['TLD starting with a hyphen refused', 'example.-com', null],
    // IPv4: every WHATWG spelling becomes the dotted quad the guard classifies.
    ['dotted quad', '127.0.0.1', '127.0.0.1', 'ipv4'],
    ['decimal integer', '2130706433', '127.0.0.1', 'ipv4'],
    ['hex integer', '0x7f000001', '127.0.0.1', 'ipv4'],
    ['hex upper case', '0X7F000001', '127.0.0.1', 'ipv4'],
    ['octal first part', '0177.0.0.1', '127.0.0.1', 'ipv4'],
    ['short form', '127.1', '127.0.0.1', 'ipv4'],
    ['three parts', '10.1.258', '10.1.1.2', 'ipv4'],
    ['mixed radix', '0xa9.0376.43518', '169.254.169.254', 'ipv4'],
    ['trailing dot on IPv4', '10.0.0.1.', '10.0.0.1', 'ipv4'],
    ['bare 0x is zero', '0x', '0.0.0.0', 'ipv4'],
    ['full-width digits', '１２７.０.０.１', '127.0.0.1', 'ipv4'],
    ['largest integer', '4294967295', '255.255.255.255', 'ipv4'],
    ['integer overflow refused', '4294967296', null],
    ['octet over 255 refused', '256.1.1.1', null],
    ['non-last part over 255 refused', '0x100.1', null],
    ['last part over range refused', '1.2.3.0400', null],
    ['five parts refused', '1.2.3.4.5', null],
    ['name ending in a number refused', 'foo.0x1', null],
    ['name ending in digits refused', 'example.123', null],
    ['bad octal digit refused', '08.0.0.1', null],
    // IPv6
    ['bracketed loopback', '[::1]', '::1', 'ipv6'],
    ['bare IPv6', '::1', '::1', 'ipv6'],
    ['RFC 5952 compression', '2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'ipv6'],
    ['leading zeros dropped', '[2001:0db8::0001]', '2001:db8::1', 'ipv6'],
    ['all zeros', '0:0:0:0:0:0:0:0', '::', 'ipv6'],
    ['IPv4-mapped stays recognisable', '[::FFFF:7f00:1]', '::ffff:127.0.0.1', 'ipv6'],
    ['IPv4-mapped dotted', '::ffff:10.0.0.1', '::ffff:10.0.0.1', 'ipv6'],
    ['zone refused', '[fe80::1%eth0]', null],
    ['unclosed bracket refused', '[::1', null],
    ['two :: refused', '1::2::3', null],
    ['nine groups refused', '1:2:3:4:5:6:7:8:9', null],
    ['bracketed name refused', '[example.com]', null],
    ['host:port is not a host', 'example.com:443', null],
  ];
  for (const [name, input, host, kind] of cases) {
    test(name, () => {
      const got = normalizeHost(input);
      assert.deepEqual(got, host === null ? null : { host, kind });
    });
  }

  // Differential check: whatever a WHATWG URL parser (what Node, browsers and many SDKs use)
  // reads as an IPv4 host, normalizeHost must read as the same address.
  const spellings = ['0x7f.1', '0177.1', '127.0.1', '0x0a.0.0.0x1', '017700000001', '3232235777', '0xc0.0xa8.1.1',
    '0.0.0.0', '00.00.00.00', '0x00000000000000000000000000000001', '1.0x00ff', '0300.0250.0.1'];
  for (const spelling of spellings) {
    test(`same IPv4 as the URL parser: ${spelling}`, () => {
      assert.equal(normalizeHost(spelling)?.host, new URL(`http://${spelling}/`).hostname);
    });
  }
});

describe('parseHostPort', () => {
  const cases: Array<[name: string, input: string, defaultPort: number | undefined, expected: string | null]> = [
    ['host and port', 'api.example.com:443', undefined, 'api.example.com 443'],
    ['upper case host', 'API.example.com:443', undefined, 'api.example.com 443'],
    ['bracketed IPv6', '[::1]:8080', undefined, '::1 8080'],
    ['port 1', 'a.example:1', undefined, 'a.example 1'],
    ['port 65535', 'a.example:65535', undefined, 'a.example 65535'],
    ['port 0 refused', 'a.example:0', undefined, null],
    ['port 65536 refused', 'a.example:65536', undefined, null],
    ['port with sign refused', 'a.example:+443', undefined, null],
    ['hex port refused', 'a.example:0x1bb', undefined, null],
    ['empty port refused', 'a.example:', undefined, null],
    ['six digits refused', 'a.example:000443', undefined, null],
    ['no port, no default', 'a.example', undefined, null],
    ['no port, default', 'a.example', 443, 'a.example 443'],
    ['bracketed IPv6, default', '[::1]', 80, '::1 80'],
    ['unbracketed IPv6 refused', '::1:443', 443, null],
    ['junk after bracket refused', '[::1]x:443', undefined, null],
    ['decimal IP literal normalised', '2130706433:80', undefined, '127.0.0.1 80'],
    ['userinfo refused', 'user@a.example:443', undefined, null],
    ['bad host refused', 'a b:443', undefined, null],
  ];
  for (const [name, input, defaultPort, expected] of cases) {
    test(name, () => {
      const got = parseHostPort(input, defaultPort);
      assert.equal(got === null ? null : `${got.host} ${got.port}`, expected);
    });
  }
});

test('formatAuthority brackets IPv6 only', () => {
  assert.equal(formatAuthority('a.example', 443), 'a.example:443');
  assert.equal(formatAuthority('::1', 443), '[::1]:443');
  assert.equal(formatAuthority('10.0.0.1', 80), '10.0.0.1:80');
});

// Red team (HTTP), finding 9: the Host header went upstream as the agent spelled it.
test('hostHeaderFor: the checked authority, the port only when it is not the scheme\'s default', () => {
  const cases: Array<[scheme: 'http' | 'https', host: string, port: number, expected: string]> = [
    ['https', 'api.example.com', 443, 'api.example.com'],
    ['https', 'api.example.com', 8443, 'api.example.com:8443'],
    ['https', 'api.example.com', 80, 'api.example.com:80'],
    ['http', 'api.example.com', 80, 'api.example.com'],
    ['http', 'api.example.com', 443, 'api.example.com:443'],
    ['https', '10.0.0.1', 443, '10.0.0.1'],
    ['https', '::1', 443, '[::1]'],
    ['http', '::1', 8080, '[::1]:8080'],
  ];
  for (const [scheme, host, port, expected] of cases) assert.equal(hostHeaderFor(scheme, host, port), expected, `${scheme} ${host} ${port}`);
  // What the agent may write for one destination (normalised by parseHostPort) is sent one way.
  for (const written of ['API.Example.COM', 'api.example.com.', 'api.example.com:00443', 'api.exa\u00admple.com', 'api.example.com:443']) {
    const hp = parseHostPort(written, 443);
    assert.ok(hp, written);
    assert.equal(hostHeaderFor('https', hp.host, hp.port), 'api.example.com', written);
  }
});

describe('hostMatches', () => {
  const cases: Array<[name: string, pattern: string, host: string, expected: boolean]> = [
    ['exact', 'api.example.com', 'api.example.com', true],
    ['exact is not a suffix match', 'example.com', 'api.example.com', false],
    ['wildcard: one level', '*.example.com', 'api.example.com', true],
    ['wildcard: any depth', '*.example.com', 'a.b.c.example.com', true],
    ['wildcard: not the apex', '*.example.com', 'example.com', false],
    ['wildcard: label boundary', '*.example.com', 'badexample.com', false],
    ['wildcard: not a different suffix', '*.example.com', 'example.com.evil.net', false],
    ['wildcard never matches an IPv4 literal', '*.0.0.1', '127.0.0.1', false],
    ['exact IP literal', '10.0.0.1', '10.0.0.1', true],
  ];
  for (const [name, pattern, host, expected] of cases) test(name, () => assert.equal(hostMatches(pattern, host), expected));
});

describe('validateHostPattern', () => {
  const cases: Array<[pattern: string, error: RegExp | null]> = [
    ['api.example.com', null],
    ['*.example.com', null],
    ['*.co.uk', null],
    ['10.0.0.1', null],
    ['[::1]', null],
    ['bücher.example', null],
    ['', /must not be empty/],
    ['*', /lone "\*"/],
    ['*.com', /bare top-level domain/],
    ['*.COM.', /bare top-level domain/],
    ['*.xn--p1ai', /bare top-level domain/],
    ['a.*.com', /whole leading label/],
    ['*example.com', /whole leading label/],
    ['*.*.example.com', /whole leading label/],
    ['api.*', /whole leading label/],
    ['*.1.2.3', /IP addresses/],
    ['*.[::1]', /IP addresses/],
    ['https://api.example.com', /without scheme or path/],
    ['api.example.com/v1', /without scheme or path/],
    ['api.example.com:443', /without a port/],
    ['exa mple.com', /not a valid host/],
    ['1.2.3.4.5', /not a valid host/],
  ];
  for (const [pattern, error] of cases) {
    test(`${JSON.stringify(pattern)} → ${error ?? 'valid'}`, () => {
      const got = validateHostPattern(pattern);
      if (error === null) assert.equal(got, null);
      else assert.match(got ?? '(valid)', error);
    });
  }

  test('normalizeHostPattern gives the compiled form', () => {
    assert.equal(normalizeHostPattern('*.Bücher.Example.'), '*.xn--bcher-kva.example');
    assert.equal(normalizeHostPattern('API.example.com'), 'api.example.com');
    assert.equal(normalizeHostPattern('[0:0::1]'), '::1');
    assert.equal(normalizeHostPattern('*.com'), null);
  });
});

describe('compileHostIndex', () => {
  const index = compileHostIndex([
    { host: '*.example.com', value: 'wild' },
    { host: 'api.example.com', value: 'exact' },
    { host: '*.api.example.com', value: 'deep' },
    { host: 'api.example.com', value: 'exact-again' },
    { host: 'example.com', value: 'apex' },
  ]);
  const cases: Array<[host: string, expected: string[]]> = [
    ['api.example.com', ['wild', 'exact', 'exact-again']],
    ['v1.api.example.com', ['wild', 'deep']],
    ['example.com', ['apex']],
    ['other.example.com', ['wild']],
    ['example.org', []],
    ['com', []],
  ];
  for (const [host, expected] of cases) {
    test(`lookup ${host} in config order`, () => assert.deepEqual(index.lookup(host), expected));
  }

  test('10k entries: lookups stay fast', () => {
    const entries = [];
    for (let i = 0; i < 5000; i++) entries.push({ host: `h${i}.example.com`, value: i }, { host: `*.s${i}.example.net`, value: -i });
    const big = compileHostIndex(entries);
    assert.deepEqual(big.lookup('h4999.example.com'), [4999]);
    assert.deepEqual(big.lookup('a.b.s4999.example.net'), [-4999]);
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) big.lookup(`x.y.s${i % 5000}.example.net`);
    // A linear scan would be ~10^8 comparisons here; the index needs a handful per lookup.
    // Generous bound: catches a linear scan per lookup blowing up, not a benchmark (that lives in test/bench).
    assert.ok(performance.now() - start < 10_000, 'lookups took too long');
  });
});

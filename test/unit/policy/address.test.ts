import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cidrContains, classifyAddress, formatIp, isAddressAllowed, parseCidr, parseIp, type AddressClass,
} from '../../../proxy/policy/address.js';

describe('classifyAddress', () => {
  const cases: Array<[ip: string, expected: AddressClass]> = [
    // CGNAT boundaries
    ['100.63.255.255', 'public'],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', 'public'],
    // RFC 1918 boundaries
    ['9.255.255.255', 'public'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['11.0.0.0', 'public'],
    ['172.15.255.255', 'public'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.167.255.255', 'public'],
    ['192.168.0.0', 'private'],
    ['192.169.0.0', 'public'],
    // loopback, link-local, metadata
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['128.0.0.0', 'public'],
    ['169.254.169.254', 'link_local'],
    ['169.253.255.255', 'public'],
    ['169.255.0.0', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['1.0.0.0', 'public'],
    ['255.255.255.255', 'broadcast'],
    ['255.255.255.254', 'reserved'],
    ['240.0.0.0', 'reserved'],
    ['239.255.255.255', 'multicast'],
    ['224.0.0.1', 'multicast'],
    ['223.255.255.255', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.255', 'documentation'],
    ['198.17.255.255', 'public'],
    ['198.18.0.0', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.20.0.0', 'public'],
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link_local'],
    ['febf:ffff::1', 'link_local'],
    ['fec0::1', 'reserved'],
    ['fc00::1', 'ula'],
    ['fd00:ec2::254', 'ula'],
    ['fbff:ffff::1', 'reserved'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'reserved'],            // Teredo
    ['2001:2::1', 'benchmarking'],
    ['2001:1ff:ffff::1', 'reserved'],   // end of 2001::/23
    ['2001:200::1', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['2606:4700::1111', 'public'],
    ['1fff:ffff::1', 'reserved'],       // below 2000::/3
    ['4000::1', 'reserved'],            // above 2000::/3
    ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'private'],
    // IPv6 forms embedding IPv4 take the IPv4 class
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:8.8.8.8', 'public'],
    ['::7f00:1', 'loopback'],           // IPv4-compatible
    ['::8.8.8.8', 'public'],
    ['64:ff9b::7f00:1', 'loopback'],    // NAT64
    ['64:ff9b::a9fe:a9fe', 'link_local'],
    ['64:ff9b::808:808', 'public'],
    ['2002:7f00:1::1', 'loopback'],     // 6to4
    ['2002:a9fe:a9fe::', 'link_local'],
    ['2002:808:808::1', 'public'],
    // not addresses
    ['127.1', 'invalid'],
    ['010.0.0.1', 'invalid'],
    ['fe80::1%eth0', 'invalid'],
    ['example.com', 'invalid'],
    ['', 'invalid'],
  ];
  for (const [ip, expected] of cases) test(`${ip || '(empty)'} is ${expected}`, () => assert.equal(classifyAddress(ip), expected));
});

describe('parseCidr', () => {
  const valid: Array<[text: string, family: 4 | 6, prefix: number, network: string]> = [
    ['10.0.0.0/8', 4, 8, '10.0.0.0'],
    ['10.1.2.3/8', 4, 8, '10.0.0.0'],          // host bits masked
    ['192.168.1.77/30', 4, 30, '192.168.1.76'],
    ['0.0.0.0/0', 4, 0, '0.0.0.0'],
    ['127.0.0.1', 4, 32, '127.0.0.1'],
    [' 172.16.0.0/12 ', 4, 12, '172.16.0.0'],
    ['fc00::/7', 6, 7, 'fc00::'],
    ['fdff:1::/7', 6, 7, 'fc00::'],
    ['::1/128', 6, 128, '::1'],
    ['::1', 6, 128, '::1'],
    ['2001:db8::ff/121', 6, 121, '2001:db8::80'],
  ];
  for (const [text, family, prefix, network] of valid) {
    test(`parses ${text}`, () => {
      const cidr = parseCidr(text);
      assert.equal(cidr.family, family);
      assert.equal(cidr.prefix, prefix);
      assert.equal(formatIp(cidr.bytes), network);
      assert.equal(cidr.text, text.trim());
    });
  }
  const invalid: Array<[text: string, message: RegExp]> = [
    ['10.0.0.0/33', /prefix length must be a number from 0 to 32/],
    ['::/129', /from 0 to 128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['10.0.0/8', /not an IPv4 dotted quad/],
    ['example.com/8', /not an IPv4 dotted quad or an IPv6 address/],
    ['', /invalid CIDR/],
  ];
  for (const [text, message] of invalid) test(`refuses ${JSON.stringify(text)}`, () => assert.throws(() => parseCidr(text), message));
});

describe('cidrContains', () => {
  const cases: Array<[cidr: string, ip: string, expected: boolean]> = [
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['100.64.0.0/10', '100.127.255.255', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['192.168.1.76/30', '192.168.1.79', true],
    ['192.168.1.76/30', '192.168.1.80', false],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['10.0.0.0/8', '::ffff:10.0.0.1', true],      // mapped v6 against a v4 CIDR
    ['10.0.0.0/8', '::ffff:11.0.0.1', false],
    ['::ffff:0:0/96', '10.0.0.1', true],           // v4 against the mapped v6 range
    ['fc00::/7', 'fd00:ec2::254', true],
    ['fc00::/7', 'fe00::1', false],
    ['::/0', '10.0.0.1', true],
    ['10.0.0.0/8', 'fc00::1', false],
    ['10.0.0.0/8', 'not an ip', false],
  ];
  for (const [cidr, ip, expected] of cases) {
    test(`${ip} in ${cidr}: ${expected}`, () => assert.equal(cidrContains(parseCidr(cidr), ip), expected));
  }
});

describe('isAddressAllowed', () => {
  const cases: Array<[name: string, ip: string, allow: string[], expected: true | AddressClass]> = [
    ['public passes', '8.8.8.8', [], true],
    ['public v6 passes', '2606:4700::1111', [], true],
    ['loopback refused', '127.0.0.1', [], 'loopback'],
    ['metadata refused', '169.254.169.254', [], 'link_local'],
    ['AWS IPv6 metadata refused', 'fd00:ec2::254', [], 'ula'],
    ['mapped private refused', '::ffff:10.0.0.1', [], 'private'],
    ['mapped loopback in hex refused', '::ffff:7f00:1', [], 'loopback'],
    ['unspecified refused', '0.0.0.0', [], 'unspecified'],
    ['unspecified v6 refused', '::', [], 'unspecified'],
    ['CGNAT refused', '100.64.0.0', [], 'cgnat'],
    ['invalid refused even with ::/0', 'nonsense', ['::/0', '0.0.0.0/0'], 'invalid'],
    ['private inside allow_private', '10.1.2.3', ['10.0.0.0/8'], true],
    ['private outside allow_private', '10.1.2.3', ['192.168.0.0/16'], 'private'],
    ['loopback allowed explicitly', '127.0.0.1', ['127.0.0.0/8'], true],
    ['mapped v6 checked against v4 CIDR', '::ffff:10.0.0.1', ['10.0.0.0/8'], true],
    ['NAT64 checked against embedded v4', '64:ff9b::a00:1', ['10.0.0.0/8'], true],
    ['6to4 checked against embedded v4', '2002:a00:1::1', ['10.0.0.0/8'], true],
    ['v6 CIDR allows ULA', 'fd00::5', ['fd00::/8'], true],
    ['metadata not allowed by 10/8', '169.254.169.254', ['10.0.0.0/8'], 'link_local'],
    ['boundary: just outside allowed /30', '192.168.1.80', ['192.168.1.76/30'], 'private'],
  ];
  for (const [name, ip, allow, expected] of cases) {
    test(name, () => {
      const verdict = isAddressAllowed(ip, allow.map(parseCidr));
      assert.deepEqual(verdict, expected === true ? { ok: true } : { ok: false, class: expected });
    });
  }
});

describe('parseIp / formatIp', () => {
  const cases: Array<[input: string, canonical: string | null]> = [
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.01', null],
    ['10.0.0', null],
    ['10.0.0.256', null],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],   // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],            // the longest run is compressed
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],                // first run on a tie
    ['::ffff:0a00:0001', '::ffff:10.0.0.1'],
    ['[::1]', '::1'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6:7:1.2.3.4', null],
    ['::1.2.3', null],
    ['12345::', null],
    [':1::', null],
    ['1:::2', null],
  ];
  for (const [input, canonical] of cases) {
    test(`${input} → ${canonical}`, () => {
      const parsed = parseIp(input);
      assert.equal(parsed === null ? null : formatIp(parsed.bytes), canonical);
    });
  }
});

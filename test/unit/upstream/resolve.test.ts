import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostPort } from '../../../proxy/config/types.js';
import { WardenError } from '../../../proxy/errors.js';
import { parseCidr } from '../../../proxy/policy/address.js';
import { createResolver, type LookupAddress, type LookupFn, type ResolverOptions } from '../../../proxy/upstream/resolve.js';

const family = (address: string): number => (address.includes(':') ? 6 : 4);

/** A fake DNS: name → answers; unknown names fail like ENOTFOUND. Counts calls per name. */
function fakeDns(zone: Record<string, string[]>): { lookup: LookupFn; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const lookup: LookupFn = async (host) => {
    calls.set(host, (calls.get(host) ?? 0) + 1);
    const answers = zone[host];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address): LookupAddress => ({ address, family: family(address) }));
  };
  return { lookup, calls };
}

const ZONE: Record<string, string[]> = {
  'api.example.com': ['93.184.216.34', '2606:2800:220:1::1'],
  'v6only.example.com': ['2606:4700::1111'],
  'rebind.attacker.net': ['127.0.0.1'],
  'metadata.attacker.net': ['169.254.169.254'],
  'mixed.attacker.net': ['93.184.216.34', '10.0.0.1'],
  'mixed-late.attacker.net': ['93.184.216.34', '8.8.8.8', 'fd00:ec2::254'],
  'mapped.attacker.net': ['::ffff:127.0.0.1'],
  'internal.corp': ['10.1.2.3'],
  'backend.internal': ['10.9.9.9'],
  'empty.example.com': [],
  'garbage.example.com': ['not-an-ip'],
  'zoned.example.com': ['fe80::1%eth0'],
};

function connectTo(entries: Record<string, string>): ReadonlyMap<string, HostPort> {
  return new Map(Object.entries(entries).map(([key, target]) => {
    const colon = target.lastIndexOf(':');
    return [key, { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) }];
  }));
}

function resolver(extra: Partial<ResolverOptions> = {}, zone = ZONE) {
  const dns = fakeDns(zone);
  const r = createResolver({ lookup: dns.lookup, allowPrivate: [], connectTo: new Map(), ...extra });
  return { r, calls: dns.calls };
}

type Expect =
  | { dial: string; port: number; family: 4 | 6; connectTo?: boolean }
  | { code: 'private_address' | 'dns_error'; message: RegExp };

const CASES: Array<[name: string, host: string, port: number, opts: Partial<ResolverOptions>, expected: Expect]> = [
  ['public name: first answer, verbatim order', 'api.example.com', 443, {}, { dial: '93.184.216.34', port: 443, family: 4 }],
  ['IPv6-only name', 'v6only.example.com', 443, {}, { dial: '2606:4700::1111', port: 443, family: 6 }],
  ['host normalised before lookup', 'API.Example.COM.', 443, {}, { dial: '93.184.216.34', port: 443, family: 4 }],
  ['rebinding name to 127.0.0.1 refused', 'rebind.attacker.net', 443, {}, { code: 'private_address', message: /^"rebind\.attacker\.net" resolves to a loopback address \(loopback\)$/ }],
  ['name to metadata refused', 'metadata.attacker.net', 80, {}, { code: 'private_address', message: /a link-local address \(link_local\)/ }],
  ['mixed public and private answers refused', 'mixed.attacker.net', 443, {}, { code: 'private_address', message: /a private address/ }],
  ['private answer in last place refused', 'mixed-late.attacker.net', 443, {}, { code: 'private_address', message: /a unique-local address \(ula\)/ }],
  ['mapped loopback answer refused', 'mapped.attacker.net', 443, {}, { code: 'private_address', message: /loopback/ }],
  ['unparseable answer refused', 'garbage.example.com', 443, {}, { code: 'private_address', message: /an invalid address \(invalid\)/ }],
  ['zoned answer refused', 'zoned.example.com', 443, {}, { code: 'private_address', message: /an invalid address \(invalid\)/ }],
  ['allowed CIDR passes', 'internal.corp', 8080, { allowPrivate: [parseCidr('10.0.0.0/8')] }, { dial: '10.1.2.3', port: 8080, family: 4 }],
  ['other CIDR does not', 'internal.corp', 8080, { allowPrivate: [parseCidr('192.168.0.0/16')] }, { code: 'private_address', message: /private/ }],
  ['mixed name allowed when every answer is', 'mixed.attacker.net', 443, { allowPrivate: [parseCidr('10.0.0.0/8')] }, { dial: '93.184.216.34', port: 443, family: 4 }],
  ['unknown name is dns_error', 'nx.example.com', 443, {}, { code: 'dns_error', message: /^cannot resolve "nx\.example\.com"$/ }],
  ['no answers is dns_error', 'empty.example.com', 443, {}, { code: 'dns_error', message: /has no addresses/ }],
  ['invalid host is dns_error', 'a b', 443, {}, { code: 'dns_error', message: /not a valid host/ }],
  ['port 0 is dns_error', 'api.example.com', 0, {}, { code: 'dns_error', message: /not a valid host name or port/ }],
  // IP literals: checked directly, in every spelling
  ['public IP literal', '8.8.8.8', 443, {}, { dial: '8.8.8.8', port: 443, family: 4 }],
  ['loopback literal refused', '127.0.0.1', 443, {}, { code: 'private_address', message: /"127\.0\.0\.1" is a loopback address/ }],
  ['decimal literal refused', '2130706433', 443, {}, { code: 'private_address', message: /loopback/ }],
  ['hex literal refused', '0x7f000001', 443, {}, { code: 'private_address', message: /loopback/ }],
  ['octal metadata literal refused', '0251.0376.0251.0376', 80, {}, { code: 'private_address', message: /link-local/ }],
  ['bracketed v6 loopback refused', '[::1]', 443, {}, { code: 'private_address', message: /loopback/ }],
  ['mapped v6 private literal refused', '[::ffff:10.0.0.1]', 443, {}, { code: 'private_address', message: /private/ }],
  ['0.0.0.0 refused', '0.0.0.0', 443, {}, { code: 'private_address', message: /unspecified/ }],
  ['literal allowed by CIDR', '127.0.0.1', 8080, { allowPrivate: [parseCidr('127.0.0.0/8')] }, { dial: '127.0.0.1', port: 8080, family: 4 }],
  ['mapped literal allowed by v4 CIDR', '::ffff:10.0.0.1', 8080, { allowPrivate: [parseCidr('10.0.0.0/8')] }, { dial: '::ffff:10.0.0.1', port: 8080, family: 6 }],
  // connect_to
  ['connect_to to 127.0.0.1 refused', 'api.example.com', 443, { connectTo: connectTo({ 'api.example.com:443': '127.0.0.1:8443' }) },
    { code: 'private_address', message: /connect_to target "127\.0\.0\.1" for "api\.example\.com" is a loopback address/ }],
  ['connect_to to 127.0.0.1 allowed by CIDR', 'api.example.com', 443,
    { connectTo: connectTo({ 'api.example.com:443': '127.0.0.1:8443' }), allowPrivate: [parseCidr('127.0.0.1/32')] },
    { dial: '127.0.0.1', port: 8443, family: 4, connectTo: true }],
  ['connect_to only for its port', 'api.example.com', 80, { connectTo: connectTo({ 'api.example.com:443': '127.0.0.1:8443' }) },
    { dial: '93.184.216.34', port: 80, family: 4, connectTo: false }],
  ['connect_to key matched after normalising the request host', 'API.example.com.', 443,
    { connectTo: connectTo({ 'api.example.com:443': '8.8.8.8:443' }) }, { dial: '8.8.8.8', port: 443, family: 4, connectTo: true }],
  ['connect_to target name resolved and checked', 'api.example.com', 443,
    { connectTo: connectTo({ 'api.example.com:443': 'rebind.attacker.net:443' }) }, { code: 'private_address', message: /connect_to target "rebind\.attacker\.net"/ }],
  ['connect_to decimal target refused', 'api.example.com', 443, { connectTo: connectTo({ 'api.example.com:443': '2130706433:443' }) },
    { code: 'private_address', message: /loopback/ }],
  ['wildcard connect_to', 'eu.svc.example.com', 443,
    { connectTo: connectTo({ '*.svc.example.com:443': 'backend.internal:8443' }), allowPrivate: [parseCidr('10.0.0.0/8')] },
    { dial: '10.9.9.9', port: 8443, family: 4, connectTo: true }],
  ['wildcard connect_to does not match the apex', 'svc.example.com', 443,
    { connectTo: connectTo({ '*.svc.example.com:443': '8.8.8.8:443', 'svc.example.com:80': '8.8.4.4:80' }) },
    { code: 'dns_error', message: /cannot resolve "svc\.example\.com"/ }],
  ['exact connect_to key wins over wildcard', 'a.svc.example.com', 443,
    { connectTo: connectTo({ '*.svc.example.com:443': '8.8.8.8:443', 'a.svc.example.com:443': '1.1.1.1:443' }) },
    { dial: '1.1.1.1', port: 443, family: 4, connectTo: true }],
  ['longest wildcard wins', 'x.a.svc.example.com', 443,
    { connectTo: connectTo({ '*.svc.example.com:443': '8.8.8.8:443', '*.a.svc.example.com:443': '1.1.1.1:443' }) },
    { dial: '1.1.1.1', port: 443, family: 4, connectTo: true }],
  ['unbracketed IPv6 connect_to key', '::1', 443, { connectTo: connectTo({ '::1:443': '8.8.8.8:443' }) },
    { dial: '8.8.8.8', port: 443, family: 4, connectTo: true }],
  ['IPv6 connect_to key', '::1', 443, { connectTo: connectTo({ '[::1]:443': '[2606:4700::1111]:443' }) },
    { dial: '2606:4700::1111', port: 443, family: 6, connectTo: true }],
];

describe('resolve', () => {
  for (const [name, host, port, opts, expected] of CASES) {
    test(name, async () => {
      const { r } = resolver(opts);
      if ('code' in expected) {
        await assert.rejects(r.resolve(host, port), (err: unknown) => {
          if (!(err instanceof WardenError)) return false;
          assert.equal(err.code, expected.code);
          assert.match(err.message, expected.message);
          // Messages name the host and the class, never the addresses DNS answered.
          for (const answer of ZONE[host] ?? []) assert.ok(!err.message.includes(answer), `message leaks ${answer}`);
          return true;
        });
      } else {
        const got = await r.resolve(host, port);
        assert.equal(got.dialHost, expected.dial);
        assert.equal(got.dialPort, expected.port);
        assert.equal(got.family, expected.family);
        assert.equal(got.port, port);
        if (expected.connectTo !== undefined) assert.equal(got.connectTo, expected.connectTo);
      }
    });
  }
});

describe('resolver cache', () => {
  test('answers are cached', async () => {
    const { r, calls } = resolver();
    await r.resolve('api.example.com', 443);
    await r.resolve('api.example.com', 80);
    assert.equal(calls.get('api.example.com'), 1);
  });

  test('concurrent misses share one lookup', async () => {
    const { r, calls } = resolver();
    const results = await Promise.all([r.resolve('api.example.com', 443), r.resolve('api.example.com', 443), r.resolve('api.example.com', 443)]);
    assert.equal(calls.get('api.example.com'), 1);
    assert.deepEqual(new Set(results.map((x) => x.dialHost)), new Set(['93.184.216.34']));
  });

  test('entries expire after the TTL', async () => {
    const { r, calls } = resolver({ cacheTtlMs: 5 });
    await r.resolve('api.example.com', 443);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await r.resolve('api.example.com', 443);
    assert.equal(calls.get('api.example.com'), 2);
  });

  test('refusals are not cached as answers', async () => {
    const zone: Record<string, string[]> = { 'flip.example.com': ['127.0.0.1'] };
    const { r } = resolver({}, zone);
    await assert.rejects(r.resolve('flip.example.com', 443), { code: 'private_address' });
    zone['flip.example.com'] = ['8.8.8.8'];
    assert.equal((await r.resolve('flip.example.com', 443)).dialHost, '8.8.8.8');
  });

  test('a rebinding name is refused even after a public answer was cached', async () => {
    const zone: Record<string, string[]> = { 'rebind.example.com': ['8.8.8.8'] };
    const { r } = resolver({ cacheTtlMs: 5 }, zone);
    assert.equal((await r.resolve('rebind.example.com', 443)).dialHost, '8.8.8.8');
    zone['rebind.example.com'] = ['127.0.0.1'];
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(r.resolve('rebind.example.com', 443), { code: 'private_address' });
  });

  test('the cache is bounded', async () => {
    const zone: Record<string, string[]> = {};
    for (let i = 0; i < 10; i++) zone[`n${i}.example.com`] = ['8.8.8.8'];
    const { r, calls } = resolver({ maxEntries: 2 }, zone);
    for (let i = 0; i < 10; i++) await r.resolve(`n${i}.example.com`, 443);
    await r.resolve('n0.example.com', 443);
    assert.equal(calls.get('n0.example.com'), 2);
  });

  test('a hanging lookup fails with dns_error after the timeout', async () => {
    const r = createResolver({ lookup: () => new Promise(() => {}), allowPrivate: [], connectTo: new Map(), lookupTimeoutMs: 10 });
    await assert.rejects(r.resolve('slow.example.com', 443), { code: 'dns_error', message: 'cannot resolve "slow.example.com"' });
  });

  test('malformed connect_to keys are refused at startup', () => {
    for (const key of ['no-port.example.com', '*.:443', '*.10.0.0.1:443', 'a.example.com:0']) {
      assert.throws(() => createResolver({ allowPrivate: [], connectTo: connectTo({ [key]: '8.8.8.8:443' }) }), /invalid connect_to key/);
    }
  });
});

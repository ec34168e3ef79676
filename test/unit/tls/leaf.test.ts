import { describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { generateCa } from '../../../proxy/tls/ca.js';
import { OID, certificateExtensions } from '../../../proxy/tls/x509.js';
import {
  LEAF_VALIDITY_MS,
  createLeafKey,
  ipv6Bytes,
  issueCertificate,
  mintLeaf,
  normalizeCertName,
  processLeafKey,
} from '../../../proxy/tls/leaf.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

const { ca } = generateCa();
const caX = new X509Certificate(ca.certPem);
const key = createLeafKey();

describe('mintLeaf: what a client checks', () => {
  // [name, host given, expected CN, SAN text, accepted by, rejected by]
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.example.test`;
  const cases: Array<[name: string, host: string, cn: string, san: string, ok: (x: X509Certificate) => boolean, notOk: (x: X509Certificate) => boolean]> = [
    ['DNS name', 'api.example.test', 'api.example.test', 'DNS:api.example.test',
      (x) => x.checkHost('api.example.test') !== undefined, (x) => x.checkHost('other.example.test') !== undefined],
    ['uppercase and trailing dot are normalised', 'API.Example.TEST.', 'api.example.test', 'DNS:api.example.test',
      (x) => x.checkHost('api.example.test') !== undefined, (x) => x.checkHost('example.test') !== undefined],
    ['IPv4 literal gets an IP SAN', '127.0.0.1', '127.0.0.1', 'IP Address:127.0.0.1',
      (x) => x.checkIP('127.0.0.1') !== undefined, (x) => x.checkIP('127.0.0.2') !== undefined],
    ['IPv6 literal gets an IP SAN', '2001:db8::1', '2001:db8::1', 'IP Address:2001:DB8:0:0:0:0:0:1',
      (x) => x.checkIP('2001:db8::1') !== undefined, (x) => x.checkIP('2001:db8::2') !== undefined],
    ['bracketed IPv6 (CONNECT form)', '[::1]', '::1', 'IP Address:0:0:0:0:0:0:0:1',
      (x) => x.checkIP('::1') !== undefined, (x) => x.checkIP('::2') !== undefined],
    ['name longer than 64: CN truncated, SAN full', long, long.slice(0, 64), `DNS:${long}`,
      (x) => x.checkHost(long) !== undefined, (x) => x.checkHost(long.slice(0, 64)) !== undefined],
    ['underscore label (seen in the wild)', 'my_svc.example.test', 'my_svc.example.test', 'DNS:my_svc.example.test',
      (x) => x.checkHost('my_svc.example.test') !== undefined, () => false],
  ];
  for (const [name, host, cn, san, ok, notOk] of cases) {
    test(name, () => {
      const x = new X509Certificate(mintLeaf(ca, host, key).certPem);
      assert.equal(x.subject, `CN=${cn}`);
      assert.equal(x.subjectAltName, san);
      assert.equal(ok(x), true, 'accepted for its own name');
      assert.equal(notOk(x), false, 'not accepted for another name');
      assert.equal(x.verify(caX.publicKey), true, 'signed by the CA');
      assert.equal(x.checkIssued(caX), true, 'issuer is the CA');
    });
  }
});

describe('mintLeaf: extensions, serial, validity', () => {
  test('cA=false, keyUsage digitalSignature (critical), EKU serverAuth, AKI = CA SKI, leaf key', () => {
    const x = new X509Certificate(mintLeaf(ca, 'ext.example.test', key).certPem);
    assert.equal(x.ca, false);
    assert.deepEqual(x.keyUsage, [OID.serverAuth], 'X509Certificate.keyUsage lists the extended key usages');
    const exts = certificateExtensions(x.raw);
    const bc = exts.get(OID.basicConstraints);
    assert.ok(bc);
    assert.equal(bc.critical, true);
    assert.equal(bc.value.toString('hex'), '3000', 'cA absent = FALSE');
    const ku = exts.get(OID.keyUsage);
    assert.ok(ku);
    assert.equal(ku.critical, true);
    assert.equal(ku.value.toString('hex'), '03020780', 'digitalSignature only');
    const caSki = certificateExtensions(caX.raw).get(OID.subjectKeyIdentifier)?.value.subarray(2).toString('hex');
    const aki = exts.get(OID.authorityKeyIdentifier)?.value.toString('hex');
    assert.equal(aki, `30168014${caSki}`);
    assert.equal(x.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), key.spkiDer.toString('hex'));
    assert.equal(x.checkPrivateKey(key.privateKey), true);
  });

  test('serials: 16 bytes, positive, distinct', () => {
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = new X509Certificate(mintLeaf(ca, 'serial.example.test', key).certPem).serialNumber;
      assert.match(s, /^[0-7][0-9A-F]{31}$/, s);
      serials.add(s);
    }
    assert.equal(serials.size, 50);
  });

  test('valid from one hour ago for 30 days', () => {
    const now = Date.now();
    const leaf = mintLeaf(ca, 'time.example.test', key);
    const x = new X509Certificate(leaf.certPem);
    const from = new Date(x.validFrom).getTime();
    const to = new Date(x.validTo).getTime();
    assert.ok(Math.abs(from - (now - HOUR)) < 5000, `validFrom ${x.validFrom}`);
    assert.ok(Math.abs(to - (now + LEAF_VALIDITY_MS)) < 5000, `validTo ${x.validTo}`);
    assert.equal(leaf.notAfter.getTime(), to);
    assert.equal(LEAF_VALIDITY_MS, 30 * DAY);
  });

  test('never outlives the CA', () => {
    const short = generateCa({ notAfter: new Date(Date.now() + 10 * DAY) }).ca;
    const leaf = mintLeaf(short, 'cap.example.test', key);
    assert.equal(leaf.notAfter.getTime(), short.notAfter.getTime());
    assert.equal(new Date(new X509Certificate(leaf.certPem).validTo).getTime(), short.notAfter.getTime());
  });

  test('an expired CA cannot mint', () => {
    const old = generateCa({ notBefore: new Date(Date.now() - 100 * DAY), notAfter: new Date(Date.now() - DAY) }).ca;
    assert.throws(() => mintLeaf(old, 'late.example.test', key), /expired/);
  });

  test('dates from 2050 on use GeneralizedTime and still parse', () => {
    const far = generateCa({ notAfter: new Date(Date.UTC(2060, 0, 1)) }).ca;
    const x = new X509Certificate(
      issueCertificate(far, ['far.example.test'], key, { notAfter: new Date(Date.UTC(2055, 5, 1)) }).certPem,
    );
    assert.equal(new Date(x.validTo).toISOString(), '2055-06-01T00:00:00.000Z');
    assert.equal(x.verify(new X509Certificate(far.certPem).publicKey), true);
  });
});

describe('host names', () => {
  const refused: Array<[name: string, host: string]> = [
    ['empty', ''],
    ['empty label', 'a..example.test'],
    ['space', 'exa mple.test'],
    ['label over 63', `${'x'.repeat(64)}.test`],
    ['over 253 in total', `${'abcdefghi.'.repeat(26)}test`],
    ['wildcard from a client', '*.example.test'],
    ['non-ASCII (must arrive as punycode)', 'bücher.example'],
    ['IPv6 with zone', 'fe80::1%eth0'],
    ['control character', 'a\u0000b.test'],
    ['just a dot', '.'],
  ];
  for (const [name, host] of refused) {
    test(`refused: ${name}`, () => {
      assert.throws(() => mintLeaf(ca, host, key), /certificate/);
    });
  }

  test('wildcards only when allowed, never alone or on the apex position only', () => {
    assert.deepEqual(normalizeCertName('*.test.local', true), { kind: 'dns', name: '*.test.local' });
    assert.throws(() => normalizeCertName('*', true));
    assert.throws(() => normalizeCertName('a.*.test', true));
    const x = new X509Certificate(issueCertificate(ca, ['*.test.local'], key, { allowWildcard: true }).certPem);
    assert.equal(x.checkHost('api.test.local'), '*.test.local', 'checkHost returns the SAN that matched');
    assert.equal(x.checkHost('test.local'), undefined, 'wildcard does not match the apex');
  });

  const v6: Array<[ip: string, hex: string]> = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1::2:3', '00010000000000000000000000020003'],
  ];
  for (const [ip, hex] of v6) {
    test(`IPv6 bytes of ${ip}`, () => assert.equal(ipv6Bytes(ip).toString('hex'), hex));
  }
});

describe('leaf key', () => {
  test('one ECDSA P-256 key per process', () => {
    const a = processLeafKey();
    assert.equal(processLeafKey(), a);
    assert.equal(a.privateKey.asymmetricKeyType, 'ec');
    assert.equal(a.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(a.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  test('every leaf minted for the key carries it', () => {
    const k = processLeafKey();
    for (const host of ['a.example.test', 'b.example.test']) {
      assert.equal(new X509Certificate(mintLeaf(ca, host, k).certPem).checkPrivateKey(k.privateKey), true);
    }
  });
});

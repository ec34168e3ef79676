import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, loadOrCreateCa, parseCa, signatureSchemeFor } from '../../../proxy/tls/ca.js';
import { KU, OID, buildCertificate, certificateExtensions, derToPem, encodeName, extension, keyUsageBits, octets, bool, publicKeyInfo, randomSerial, seq, subjectKeyId } from '../../../proxy/tls/x509.js';
import { createLeafKey, issueCertificate, mintLeaf } from '../../../proxy/tls/leaf.js';

const DAY = 24 * 3600 * 1000;

/** A logger that records what it is told. */
function captureLog(): { lines: Array<{ level: string; obj: object; msg: string }>; info(o: object, m: string): void; warn(o: object, m: string): void } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return {
    lines,
    info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
  };
}

let root: string;
let n = 0;
/** A fresh path under the per-file temp dir (not created). */
const freshDir = (): string => join(root, `d${n++}`);

async function writeCaDir(dir: string, certPem: string | null, keyPem: string | null, keyMode = 0o600): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (certPem !== null) await writeFile(join(dir, 'ca.pem'), certPem);
  if (keyPem !== null) {
    await writeFile(join(dir, 'ca.key'), keyPem, { mode: keyMode });
    await chmod(join(dir, 'ca.key'), keyMode);
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'warden-ca-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadOrCreateCa: first start', () => {
  test('creates dir 0700, ca.key 0600 (PKCS#8), ca.pem, and logs where the CA is', async () => {
    const dir = freshDir();
    const log = captureLog();
    const { ca, created } = await loadOrCreateCa(dir, log);
    assert.equal(created, true);

    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).sort(), ['ca.key', 'ca.pem'], 'no temp files left behind');

    const keyPem = await readFile(join(dir, 'ca.key'), 'utf8');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const key = createPrivateKey(keyPem);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');

    const certPem = await readFile(join(dir, 'ca.pem'), 'utf8');
    assert.equal(certPem, ca.certPem);
    const x = new X509Certificate(certPem);
    assert.equal(x.ca, true);
    assert.equal(x.checkIssued(x), true);
    assert.equal(x.verify(x.publicKey), true);
    assert.equal(x.checkPrivateKey(key), true);
    assert.match(x.subject, /^O=Warden\nCN=Warden CA [0-9a-f]{8}$/);
    assert.equal(x.fingerprint256, ca.fingerprint256);

    const years = (new Date(x.validTo).getTime() - Date.now()) / (365.25 * DAY);
    assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);

    const exts = certificateExtensions(x.raw);
    const bc = exts.get(OID.basicConstraints);
    assert.ok(bc);
    assert.equal(bc.critical, true, 'basicConstraints critical');
    assert.equal(bc.value.toString('hex'), '30060101ff020100', 'cA TRUE, pathLen 0');
    const ku = exts.get(OID.keyUsage);
    assert.ok(ku);
    assert.equal(ku.critical, true, 'keyUsage critical');
    assert.equal(ku.value.toString('hex'), '03020106', 'keyCertSign + cRLSign only');
    assert.ok(exts.has(OID.subjectKeyIdentifier));

    assert.equal(log.lines.length, 1);
    const line = log.lines[0]!;
    assert.equal(line.level, 'info');
    assert.ok(line.msg.includes(join(dir, 'ca.pem')), line.msg);
    assert.match(line.msg, /trust/);
  });

  test('creates the CA inside an existing empty directory', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const { created } = await loadOrCreateCa(dir);
    assert.equal(created, true);
    assert.deepEqual((await readdir(dir)).sort(), ['ca.key', 'ca.pem']);
  });

  test('reload gives the same CA and logs nothing', async () => {
    const dir = freshDir();
    const first = await loadOrCreateCa(dir);
    const log = captureLog();
    const second = await loadOrCreateCa(dir, log);
    assert.equal(second.created, false);
    assert.equal(second.ca.fingerprint256, first.ca.fingerprint256);
    assert.equal(second.ca.subjectDer.toString('hex'), first.ca.subjectDer.toString('hex'));
    assert.deepEqual(log.lines, []);
  });

  test('a CA generated twice differs (random name suffix and key)', () => {
    const a = generateCa().ca;
    const b = generateCa().ca;
    assert.notEqual(a.fingerprint256, b.fingerprint256);
    assert.notEqual(a.subject, b.subject);
  });
});

describe('loadOrCreateCa: refusals', () => {
  const good = generateCa();
  const other = generateCa();

  const halfCases: Array<[name: string, cert: string | null, key: string | null, missing: string]> = [
    ['only ca.pem present', good.ca.certPem, null, 'ca.key'],
    ['only ca.key present', null, good.keyPem, 'ca.pem'],
  ];
  for (const [name, cert, key, missing] of halfCases) {
    test(`${name}: refused, naming ${missing}, nothing generated`, async () => {
      const dir = freshDir();
      await writeCaDir(dir, cert, key);
      const before = (await readdir(dir)).sort();
      await assert.rejects(loadOrCreateCa(dir), (err: Error) => {
        assert.ok(err.message.includes(join(dir, missing)), err.message);
        assert.match(err.message, /missing/);
        assert.match(err.message, /remove/, 'tells the admin what to do');
        return true;
      });
      assert.deepEqual((await readdir(dir)).sort(), before);
    });
  }

  const expired = generateCa({ notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) });
  const future = generateCa({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 400 * DAY) });
  const leafKey = createLeafKey();
  const leaf = issueCertificate(good.ca, ['not-a-ca.example'], leafKey);
  const noCertSign = buildSelfSigned([
    extension(OID.basicConstraints, true, seq([bool(true)])),
    extension(OID.keyUsage, true, keyUsageBits(KU.digitalSignature)),
  ]);

  const badCases: Array<[name: string, cert: string, key: string, message: RegExp]> = [
    ['key of another CA', good.ca.certPem, other.keyPem, /ca\.key is not the private key of the certificate in .*ca\.pem/],
    ['expired CA', expired.ca.certPem, expired.keyPem, /ca\.pem expired on \d{4}-/],
    ['CA not yet valid', future.ca.certPem, future.keyPem, /ca\.pem is not valid before .*clock/],
    ['leaf certificate as CA', leaf.certPem, leafKey.privateKeyPem, /ca\.pem is not a CA certificate/],
    ['keyUsage without keyCertSign', noCertSign.certPem, noCertSign.keyPem, /ca\.pem has a keyUsage extension without keyCertSign/],
    ['garbage certificate', 'hello\n', good.keyPem, /ca\.pem holds no PEM certificate/],
    ['corrupt certificate body', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.keyPem, /ca\.pem could not be parsed/],
    ['garbage key', good.ca.certPem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /ca\.key could not be read as an unencrypted PEM private key/],
    ['encrypted key', good.ca.certPem, encryptedKeyPem(good.keyPem), /ca\.key could not be read/],
  ];
  for (const [name, cert, key, message] of badCases) {
    test(`${name}: refused with a message naming the file`, async () => {
      const dir = freshDir();
      await writeCaDir(dir, cert, key);
      await assert.rejects(loadOrCreateCa(dir), (err: Error) => {
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /PRIVATE KEY|[A-Za-z0-9+/]{24}/, 'never prints key material');
        return true;
      });
    });
  }

  test('ca.key readable by others: warning, still loads', async () => {
    const dir = freshDir();
    await writeCaDir(dir, good.ca.certPem, good.keyPem, 0o644);
    const log = captureLog();
    const { ca, created } = await loadOrCreateCa(dir, log);
    assert.equal(created, false);
    assert.equal(ca.fingerprint256, good.ca.fingerprint256);
    const warn = log.lines.find((l) => l.level === 'warn');
    assert.ok(warn, 'a warning was logged');
    assert.match(warn.msg, /0644/);
    assert.match(warn.msg, /chmod 600/);
  });

  test('ca.key with mode 0600: no warning', async () => {
    const dir = freshDir();
    await writeCaDir(dir, good.ca.certPem, good.keyPem, 0o600);
    const log = captureLog();
    await loadOrCreateCa(dir, log);
    assert.deepEqual(log.lines, []);
  });

  test('CA expiring within 30 days: loads, with a warning', async () => {
    const soon = generateCa({ notAfter: new Date(Date.now() + 5 * DAY) });
    const dir = freshDir();
    await writeCaDir(dir, soon.ca.certPem, soon.keyPem);
    const log = captureLog();
    await loadOrCreateCa(dir, log);
    assert.match(log.lines.find((l) => l.level === 'warn')?.msg ?? '', /expires on/);
  });
});

describe('CAs an admin brings', () => {
  test('RSA-2048 CA in PKCS#1 PEM: loads, signs leaves with sha256WithRSAEncryption', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const made = generateCa({ privateKey });
    const dir = freshDir();
    const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
    await writeCaDir(dir, made.ca.certPem, pkcs1);
    const { ca } = await loadOrCreateCa(dir);
    assert.equal(ca.scheme.name, 'sha256WithRSAEncryption');
    const caX = new X509Certificate(ca.certPem);
    const leafX = new X509Certificate(mintLeaf(ca, 'rsa.example.test', createLeafKey()).certPem);
    assert.equal(leafX.verify(caX.publicKey), true);
    assert.equal(leafX.checkIssued(caX), true);
  });

  test('ECDSA P-384 CA in SEC1 PEM: loads and signs with ecdsa-with-SHA384', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const made = generateCa({ privateKey });
    const dir = freshDir();
    await writeCaDir(dir, made.ca.certPem, privateKey.export({ type: 'sec1', format: 'pem' }).toString());
    const { ca } = await loadOrCreateCa(dir);
    assert.equal(ca.scheme.name, 'ecdsa-with-SHA384');
    const leafX = new X509Certificate(mintLeaf(ca, 'p384.example.test', createLeafKey()).certPem);
    assert.equal(leafX.verify(new X509Certificate(ca.certPem).publicKey), true);
  });

  test('CA without a keyUsage extension (openssl req -x509 style) is accepted', () => {
    const made = buildSelfSigned([extension(OID.basicConstraints, true, seq([bool(true)]))]);
    const ca = parseCa(made.certPem, made.keyPem, { certFile: 'ca.pem', keyFile: 'ca.key' });
    assert.equal(ca.chainPem, '', 'self-signed root: leaves are sent alone');
  });

  const unsupported: Array<[name: string, make: () => ReturnType<typeof generateKeyPairSync>['privateKey'], message: RegExp]> = [
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey, /unsupported key type: ed25519/],
    ['secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, /unsupported key type: EC \(secp256k1\)/],
    ['RSA-1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, /1024-bit RSA key/],
  ];
  for (const [name, make, message] of unsupported) {
    test(`${name} CA key is refused`, () => {
      assert.throws(() => signatureSchemeFor(make(), 'ca.key'), message);
    });
  }
});

/** Encrypt a PKCS#8 key, as an admin might by mistake. */
function encryptedKeyPem(keyPem: string): string {
  return createPrivateKey(keyPem)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: randomBytes(8).toString('hex') })
    .toString();
}

/** A self-signed certificate with exactly `extensions` (plus SKI), for checks the loader must make. */
function buildSelfSigned(extensions: ReturnType<typeof extension>[]): { certPem: string; keyPem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = encodeName([[OID.commonName, 'Hand-made CA']]);
  const spki = publicKeyInfo(privateKey);
  const der = buildCertificate({
    serial: randomSerial(),
    issuer: name,
    subject: name,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    spki,
    extensions: [...extensions, extension(OID.subjectKeyIdentifier, false, octets(subjectKeyId(spki)))],
    signer: privateKey,
    scheme: signatureSchemeFor(privateKey, 'test key'),
  });
  return { certPem: derToPem(der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

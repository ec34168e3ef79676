/**
 * Private keys without PEM armour (red team, session 14, F4): a key kept as one run of base64 (an
 * environment variable, a secret manager, a constant in source) passed unseen, and
 * `PRIVATE_KEY=<base64>` had only its first 512 characters redacted, which left the primes
 * upstream. Keys are made here, in the test, and used nowhere else.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { unarmoredPrivateKey } from '../../../proxy/dlp/validators/pem-block.js';
import { policy, request } from './inspect-helpers.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
const b64 = (b: Buffer): string => b.toString('base64');

const keys: Array<[string, string]> = [
  ['RSA PKCS#1', b64(rsa.privateKey.export({ type: 'pkcs1', format: 'der' }))],
  ['RSA PKCS#8', b64(rsa.privateKey.export({ type: 'pkcs8', format: 'der' }))],
  ['EC SEC1', b64(ec.privateKey.export({ type: 'sec1', format: 'der' }))],
  ['EC PKCS#8', b64(ec.privateKey.export({ type: 'pkcs8', format: 'der' }))],
  ['Ed25519 PKCS#8', b64(ed.privateKey.export({ type: 'pkcs8', format: 'der' }))],
  ['DSA PKCS#8', b64(dsa.privateKey.export({ type: 'pkcs8', format: 'der' }))],
  ['encrypted PKCS#8 (PBES2)', b64(ec.privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: 'unit' }))],
];
const notKeys: Array<[string, string]> = [
  ['RSA public key (SPKI)', b64(rsa.publicKey.export({ type: 'spki', format: 'der' }))],
  ['RSA public key (PKCS#1)', b64(rsa.publicKey.export({ type: 'pkcs1', format: 'der' }))],
  ['EC public key (SPKI)', b64(ec.publicKey.export({ type: 'spki', format: 'der' }))],
  ['Ed25519 public key (SPKI)', b64(ed.publicKey.export({ type: 'spki', format: 'der' }))],
  ['base64 of text', b64(Buffer.from('0'.repeat(60)))],
];

test('unarmoredPrivateKey: every private key encoding, and no public key', () => {
  for (const [name, k] of keys) assert.notEqual(unarmoredPrivateKey(k), undefined, name);
  for (const [name, k] of notKeys) assert.equal(unarmoredPrivateKey(k), undefined, name);
  assert.equal(unarmoredPrivateKey('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ'), null, 'OpenSSH');
});

const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

for (const [kname, key] of keys) {
  for (const [shape, content] of [
    ['in an assignment', `PRIVATE_KEY=${key}`],
    ['bare in a tool result', `$ vault read -field=key secret/app\n${key}\n`],
    ['in a Java string', `static final String KEY = "${key}";`],
    ['wrapped at 64 columns, no armour', `${(key.match(/.{1,64}/g) ?? []).join('\n')}\n`],
    ['wrapped at 64 columns in a CERTIFICATE armour', `-----BEGIN CERTIFICATE-----\n${(key.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`],
  ] as const) {
    for (const [ename, engine] of engines) {
      test(`unarmoured ${kname} ${shape} blocks (${ename})`, () => {
        const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content }] })), pol);
        assert.equal(r.decision, 'block');
        assert.ok(r.findings.some((f) => f.type === 'private_key'), r.findings.map((f) => f.type).join(' '));
      });
    }
  }
}

test('as a JSON value under a key name, the key is a private key; public keys and certificates find nothing', () => {
  const [, key] = keys[1]!;
  for (const [ename, engine] of engines) {
    const r = engine.inspect(request(JSON.stringify({ private_key: key })), pol);
    assert.equal(r.decision, 'block', ename);
    for (const [name, pub] of notKeys) {
      const clean = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: `PUBLIC_KEY=${pub}` }] })), pol);
      assert.deepEqual(clean.findings.filter((f) => f.type === 'private_key'), [], `${ename}: ${name}`);
    }
  }
});

test('a generic secret longer than 512 characters is redacted whole', () => {
  const long = `${'Qw7rT2xk9Lm4vB8nZ1'.repeat(40)}TAIL`;
  for (const [ename, engine] of engines) {
    const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: `API_TOKEN=${long} done` }] })), pol);
    assert.equal(r.decision, 'redact', ename);
    const out = r.body?.toString('utf8') ?? '';
    assert.ok(!out.includes('TAIL') && !out.includes('Qw7rT2'), `${ename}: ${out.slice(0, 120)}`);
    const keyed = engine.inspect(request(JSON.stringify({ api_token: long })), pol);
    assert.equal(keyed.decision, 'redact', `${ename} (JSON member)`);
    assert.ok(!(keyed.body?.toString('utf8') ?? '').includes('TAIL'), ename);
  }
});

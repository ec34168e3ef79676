import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { checkpointMessage, loadOrCreateSignKey, publicKeyFromPem, readSignKey, signCheckpoint, verifyCheckpoint } from '../../../proxy/audit/keys.js';
import { tempDir } from './audit-fixtures.js';

test('loadOrCreateSignKey creates an Ed25519 key 0600 in a 0700 directory, then reloads it', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, 'sub', 'sign.pem');
  const k1 = loadOrCreateSignKey(path);
  assert.equal(k1.created, true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
  assert.equal(k1.privateKey.asymmetricKeyType, 'ed25519');
  assert.match(k1.keyId, /^[0-9a-f]{16}$/);
  const k2 = loadOrCreateSignKey(path);
  assert.equal(k2.created, false);
  assert.equal(k2.publicKeyPem, k1.publicKeyPem);
  assert.equal(k2.keyId, k1.keyId);
});

test('readSignKey creates nothing when the key is missing', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  assert.equal(readSignKey(join(dir, 'nope.pem')), null);
  assert.equal(existsSync(join(dir, 'nope.pem')), false);
});

test('a non-Ed25519 key is refused with a clear message', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, 'ec.pem');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  assert.throws(() => loadOrCreateSignKey(path), /must be Ed25519, found ec/);
  assert.throws(() => publicKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' })), /Ed25519/);
});

test('loose permissions on an existing key are reported', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, 'k.pem');
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o644 });
  assert.equal(loadOrCreateSignKey(path).looseMode, true);
});

test('checkpoint signatures verify only for the same message and key', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const k = loadOrCreateSignKey(join(dir, 'k.pem'));
  const other = generateKeyPairSync('ed25519').publicKey;
  const msg = checkpointMessage(1, 100, 'ab'.repeat(32));
  assert.equal(msg, `{"first_seq":1,"last_hash":"${'ab'.repeat(32)}","last_seq":100}`);
  const sig = signCheckpoint(k.privateKey, msg);
  assert.equal(verifyCheckpoint(k.publicKey, msg, sig), true);
  assert.equal(verifyCheckpoint(k.publicKey, checkpointMessage(1, 101, 'ab'.repeat(32)), sig), false);
  assert.equal(verifyCheckpoint(other, msg, sig), false);
  assert.equal(verifyCheckpoint(k.publicKey, msg, 'not base64 at all!'), false);
  // The public PEM round-trips to the same key id (what `audit pubkey` prints and verify reads).
  assert.equal(publicKeyFromPem(k.publicKeyPem).keyId, k.keyId);
});

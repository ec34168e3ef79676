/**
 * The Ed25519 key that signs audit checkpoints. Native `node:crypto` only.
 *
 * The private key is a PKCS#8 PEM file, created on first start with mode 0600 in a directory
 * created 0700. It is unencrypted on disk (the proxy must sign unattended), like the CA key:
 * protect it with file permissions or mount it from a secret store.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalJson } from './canonical.js';

/** A loaded signing key. */
export interface SignKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SPKI PEM of the public key: what `warden audit pubkey` prints. */
  readonly publicKeyPem: string;
  /** First 16 hex digits of SHA-256 over the DER SPKI public key. */
  readonly keyId: string;
  /** True when this call created the key file. */
  readonly created: boolean;
  /** True when the existing file is readable or writable by group or others. */
  readonly looseMode: boolean;
}

/** key_id of a public key: SHA-256 of its DER SPKI encoding, first 16 hex digits. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function fromPrivatePem(pem: string | Buffer, path: string, created: boolean, looseMode: boolean): SignKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${path}: the audit signing key must be Ed25519, found ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
    created,
    looseMode,
  };
}

/**
 * Read the signing key at `path`, or return null when no file exists. Creates nothing.
 * Throws if the file exists but is not an Ed25519 private key.
 */
export function readSignKey(path: string): SignKey | null {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const mode = statSync(path).mode & 0o077;
  return fromPrivatePem(pem, path, false, mode !== 0);
}

/**
 * Load the signing key at `path`, creating it (and its directory, 0700) on first start.
 * Creation uses O_EXCL so two processes starting together cannot overwrite each other's key;
 * the loser reads the winner's file.
 */
export function loadOrCreateSignKey(path: string): SignKey {
  const existing = readSignKey(path);
  if (existing) return existing;
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = readSignKey(path);
      if (raced) return raced;
    }
    throw err;
  }
  try {
    writeSync(fd, pem);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600); // openSync's mode is filtered by the umask; be explicit
  return fromPrivatePem(pem, path, true, false);
}

/**
 * Parse a key file given to `warden audit verify --pubkey`: an SPKI public key PEM, or a
 * private key PEM (its public half is used). Throws with a message naming what was found.
 */
export function publicKeyFromPem(pem: string | Buffer): { readonly publicKey: KeyObject; readonly keyId: string; readonly pem: string } {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch {
    throw new Error('not a PEM public or private key');
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`expected an Ed25519 key, found ${publicKey.asymmetricKeyType ?? 'unknown'}`);
  }
  return { publicKey, keyId: keyIdOf(publicKey), pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * The bytes a checkpoint signs: canonical JSON of `{first_seq, last_seq, last_hash}`, where
 * `last_hash` is the hash of record `last_seq` (the one just before the checkpoint). Since
 * every hash covers its `prev`, signing `last_hash` commits to the whole chain up to it.
 */
export function checkpointMessage(firstSeq: number, lastSeq: number, lastHash: string): string {
  return canonicalJson({ first_seq: firstSeq, last_seq: lastSeq, last_hash: lastHash });
}

/** Ed25519 signature of a checkpoint message, base64. */
export function signCheckpoint(privateKey: KeyObject, message: string): string {
  return sign(null, Buffer.from(message), privateKey).toString('base64');
}

/** Check a base64 Ed25519 signature (untrusted input: never throws). */
export function verifyCheckpoint(publicKey: KeyObject, message: string, signatureB64: string): boolean {
  try {
    return verify(null, Buffer.from(message), publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

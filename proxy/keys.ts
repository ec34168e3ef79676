/**
 * The fingerprint key: 32 random bytes in `ca_dir/fingerprint.key` (0600), the HMAC key behind
 * every finding's `fp`. The proxy, `warden scan` and `warden explain` share it, so the same
 * value has the same fingerprint everywhere, and nobody without the key can test guesses.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FINGERPRINT_KEY_FILE = 'fingerprint.key';

export function loadOrCreateFingerprintKey(caDir: string): Buffer {
  const file = join(caDir, FINGERPRINT_KEY_FILE);
  try {
    const key = readFileSync(file);
    if (key.length < 32) throw new Error(`${file} is shorter than 32 bytes; delete it to make a new one (fingerprints will change)`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, key, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
  return key;
}

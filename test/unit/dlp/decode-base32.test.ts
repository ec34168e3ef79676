/**
 * Base32 of text (decode-base32.ts; red team, session 14, F8): read from whole runs of the
 * RFC 4648 alphabet of 32 characters or more, never from upper-case names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase32, isPrintableBase32 } from '../../../proxy/dlp/decode-base32.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

/** RFC 4648 base32 with padding (Node has no encoder). */
function b32(s: string): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of Buffer.from(s)) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += A[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out.padEnd(Math.ceil(out.length / 8) * 8, '=');
}

test('b32 agrees with the RFC 4648 test vectors, and decodeBase32 reverses it', () => {
  const vectors: Array<[string, string]> = [['f', 'MY======'], ['fo', 'MZXQ===='], ['foo', 'MZXW6==='], ['foob', 'MZXW6YQ='], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI======']];
  for (const [plain, encoded] of vectors) {
    assert.equal(b32(plain), encoded);
    assert.equal(decodeBase32(encoded).toString(), plain);
  }
});

const runs: Array<[string, string, boolean]> = [
  // name, text, read
  ['text of 20 bytes, unpadded', b32('the ssn is 536228143'), true],
  ['text, padded to a multiple of 8', b32('ssn 536-22-8143 for the file'), true],
  ['shorter than 32 characters', b32('ssn 536-22-8143'), false],
  ['the alphabet itself', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', false],
  ['an upper-case C name', 'PFNGLCOMPRESSEDTEXSUBIMAGE2DPROC', false],
  ['a TOTP secret (random bytes)', 'H77SYXWORDPGVOQTFRR2HFUB3C45XXI7', false],
  ['a digit outside the alphabet', `${b32('the ssn is 536228143').slice(0, 31)}8`, false],
  ['lower case (`base32 | tr A-Z a-z`)', b32('the ssn is 536228143').toLowerCase(), true],
  ['lower case, padded', b32('ssn 536-22-8143 for the file').toLowerCase(), true],
  ['mixed case', b32('the ssn is 536228143').replace(/[A-M]/g, (c) => c.toLowerCase()), false],
  ['a lower-case word of 32 letters and more, no digit', 'thequickbrownfoxjumpsoverthelazydog', false],
  ['the alphabet in lower case', 'abcdefghijklmnopqrstuvwxyz234567', false],
  ['a v3 onion name (random bytes)', 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad', false],
  ['a SHA-256 digest in hex (base32hex is not read)', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', false],
  ['padding that makes no multiple of 8', `${b32('ssn 536-22-8143 for the file').replace(/=+$/, '')}=`, false],
];
for (const [name, text, read] of runs) {
  test(`isPrintableBase32: ${name}`, () => assert.equal(isPrintableBase32(text, 0, text.length), read));
}

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const bodies: Array<[string, string, string[]]> = [
  // name, chat message, findings (type:action)
  ['a honeytoken in base32', `see ${b32('WARDEN-CANARY-5e1d0b77')} there`, ['honeytoken:block']],
  ['an AWS key id in base32 (32 characters, no padding)', b32('AKIAQYLPMN5HHHFPZAM2'), ['aws_access_key_id:block']],
  ['an SSN in padded base32', `data ${b32('ssn 536-22-8143 for the file')}`, ['us_ssn:block']],
  ['upper-case names and the alphabet', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567 PFNGLCOMPRESSEDTEXSUBIMAGE2DPROC', []],
  // `echo -n "$AWS_SECRET" | base32 | tr A-Z a-z`, and the same for a card number.
  ['an AWS secret key line in lower-case base32', b32('aws_secret_access_key = rODbuB7pgSqQes3k1Ah5suEMuFY1vL7KE0d1xqhy').toLowerCase(), ['aws_secret_access_key:block']],
  ['a card number in lower-case base32', `note ${b32('card 4556 7375 8689 9855').toLowerCase()}`, ['credit_card:block']],
  ['a honeytoken in lower-case base32, wrapped at 76 columns as `base32` wraps', b32(`token WARDEN-CANARY-5e1d0b77 ${'and some padding text '.repeat(4)}`).toLowerCase().replace(/(.{76})/g, '$1\n'), ['honeytoken:block']],
  ['lower-case words, digests and onion names', 'thequickbrownfoxjumpsoverthelazydog ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion', []],
];
for (const [name, content, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`base32 (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content }] })), pol);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
      assert.equal(r.decision, findings.length > 0 ? 'block' : 'allow');
    });
  }
}

test('base32 is read in one pass: 4 MiB of lower-case runs, and one run of 4 MiB, in a few hundred ms each (quadratic: hours)', () => {
  // Base32 of 5-byte-aligned text is the concatenation of its pieces' encodings.
  const text = (b32('the ssn 536-22-8143 ') + b32('lorem ipsum dolor sit amet, consectetur ').repeat(65_000)).toLowerCase();
  assert.equal(isPrintableBase32(text, 0, text.length), true);
  const runs = `${b32('the ssn is 536228143').toLowerCase()} `.repeat(4 * 1024 * 1024 / 33);
  for (const [name, body] of [['one run', text], ['short runs', runs]] as const) {
    const t0 = performance.now();
    const r = createDlpEngine(detectors).inspect(request(body, { 'content-type': 'text/plain' }), pol);
    const ms = performance.now() - t0;
    assert.notEqual(r.decision, 'allow', name);
    assert.ok(ms < 5000, `${name}: ${ms.toFixed(0)} ms`);
  }
});

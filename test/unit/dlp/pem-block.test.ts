/**
 * PEM private keys (validators/pem-block.ts, secrets.ts privateKey) with real keys: each key is
 * found as written, with a placeholder line in it, without its END line; documentation
 * placeholders are not. Keys are generated per run with node:crypto (the formats openssl writes:
 * `openssl genrsa 2048` is PKCS#8, `-traditional` PKCS#1, `genpkey -algorithm ed25519`); the
 * OpenSSH and OpenPGP keys were generated for this file (`ssh-keygen -t ed25519 -N ''`, `gpg
 * --quick-gen-key … ed25519` with no passphrase, exported with `--export-minimal`) and are used
 * nowhere else. Test names describe the case; assertions never print a key.
 */
import * as assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { privateKey } from '../../../proxy/dlp/validators/secrets.js';
import { policy, request } from './inspect-helpers.js';

const OPENSSH_ED25519 = [
  '-----BEGIN OPENSSH PRIVATE KEY-----',
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
  'QyNTUxOQAAACApn61Jkd9275mHzE2vKfg82UX+RHM6+LIhqXHQZcJXxgAAAIj+5/Fp/ufx',
  'aQAAAAtzc2gtZWQyNTUxOQAAACApn61Jkd9275mHzE2vKfg82UX+RHM6+LIhqXHQZcJXxg',
  'AAAEBAWKsH7x5zug3nSOTA44m0AWZODT+sH4dOSJfHJkbk+CmfrUmR33bvmYfMTa8p+DzZ',
  'Rf5Eczr4siGpcdBlwlfGAAAAAAECAwQF',
  '-----END OPENSSH PRIVATE KEY-----',
  '',
].join('\n');

const PGP_ED25519 = [
  '-----BEGIN PGP PRIVATE KEY BLOCK-----',
  '',
  'lFgEawOFUBYJKwYBBAHaRw8BAQdAwvZ5AMlYzsDs5DvTQKq3cXw0cNRf5NFcECei',
  '4wj6RGIAAP4vYRCDQ04IiR3dQ7pBxlXBXqXvfK/e+sKz0nQp1RK10xGftB1Vbml0',
  'IFRlc3QgPHVuaXRAdGVzdC5pbnZhbGlkPoiQBBMWCAA4FiEEsEOvwfBqkFosxJs8',
  'A4tZ79tkQLAFAmsDhVACGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQA4tZ',
  '79tkQLBMUAEAusMPx9Scc6iTquTS3aKEw5AhQRSChz/4LWUFbRLElkYA/jMmfjDd',
  'qUrmlw/H7y68+PiigVIoVAdmAR6MNKMMI/EI',
  '=p8IB',
  '-----END PGP PRIVATE KEY BLOCK-----',
  '',
].join('\n');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const pem = (k: ReturnType<typeof generateKeyPairSync>['privateKey'], type: 'pkcs8' | 'pkcs1' | 'sec1', cipher?: string): string =>
  String(k.export(cipher === undefined ? { type, format: 'pem' } : { type, format: 'pem', cipher, passphrase: 'unit-test' }));
const keys: Array<[string, string]> = [
  ['RSA 2048 PKCS#8 (openssl genrsa)', pem(rsa, 'pkcs8')],
  ['RSA 2048 PKCS#1 (genrsa -traditional)', pem(rsa, 'pkcs1')],
  ['Ed25519 PKCS#8 (genpkey), the smallest', pem(generateKeyPairSync('ed25519').privateKey, 'pkcs8')],
  ['EC P-256 SEC1', pem(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, 'sec1')],
  ['encrypted PKCS#8', pem(rsa, 'pkcs8', 'aes-256-cbc')],
  ['legacy encrypted PKCS#1 (DEK-Info)', pem(rsa, 'pkcs1', 'aes-256-cbc')],
  ['OpenSSH Ed25519', OPENSSH_ED25519],
  ['OpenPGP Ed25519 (gpg --export-secret-keys)', PGP_ED25519],
];

/** The lines of a PEM key, its END line split off. */
function parts(key: string): { lines: string[]; end: string } {
  const lines = key.trimEnd().split('\n');
  return { lines: lines.slice(0, -1), end: lines[lines.length - 1] ?? '' };
}
/** The key's base64 lines (not BEGIN/END, header, blank lines or an OpenPGP `=` checksum line). */
const base64Lines = (key: string): string[] => parts(key).lines.slice(1).filter((l) => /^[A-Za-z0-9+/]+=*$/.test(l));

/** How a key reaches the text: [name, edit, the text the finding must end with, or null: the END line]. */
const variants: Array<[string, (key: string) => string, ((key: string) => string) | null]> = [
  ['as written', (k) => k, null],
  ['with a `...` line before END', (k) => { const p = parts(k); return [...p.lines, '...', p.end].join('\n'); }, null],
  ['with a `<` line in the middle', (k) => {
    const p = parts(k);
    const mid = Math.max(2, Math.floor(p.lines.length / 2));
    return [...p.lines.slice(0, mid), '<several lines elided>', ...p.lines.slice(mid), p.end].join('\n');
  }, null],
  ['with a `redacted` line after BEGIN', (k) => { const p = parts(k); return [p.lines[0], '(redacted copy)', ...p.lines.slice(1), p.end].join('\n'); }, null],
  ['without its END line, at the end of the text', (k) => parts(k).lines.join('\n'), (k) => base64Lines(k).at(-1) ?? ''],
  ['without its END line, prose after it', (k) => `${parts(k).lines.join('\n')}\n\nThat is the whole file; the rest of the output was cut by the terminal.`,
    (k) => base64Lines(k).at(-1) ?? ''],
  ['with `...` and without its END line', (k) => `${parts(k).lines.join('\n')}\n...`, (k) => base64Lines(k).at(-1) ?? ''],
  ['JSON-escaped, with `...` before END', (k) => { const p = parts(k); return [...p.lines, '...', p.end].join('\\n'); }, null],
  ['line breaks turned into spaces, without its END line', (k) => parts(k).lines.join(' '), (k) => base64Lines(k).at(-1) ?? ''],
];

/** Run the validator as the engine does: the candidate is the BEGIN line at `start`. */
function verdictEnd(text: string, start = 0): number | null {
  const begin = /-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/i.exec(text.slice(start));
  if (begin === null) return null;
  const s = start + begin.index;
  const end = s + begin[0].length;
  const v = privateKey({ text, start: s, end, value: text.slice(s, end), groups: [text.slice(s, end)], matchStart: s, key: null, hasContext: false });
  return v === null ? null : v.end ?? end;
}

for (const [kname, key] of keys) {
  for (const [vname, edit, endsWith] of variants) {
    test(`private key found: ${kname}, ${vname}`, () => {
      const text = `here it is:\n${edit(key)}`;
      const start = text.indexOf('-----BEGIN');
      const end = verdictEnd(text, start);
      assert.ok(end !== null, 'found');
      const span = text.slice(start, end);
      // The span covers every line of the key material.
      for (const line of base64Lines(key)) assert.ok(span.includes(line), 'a base64 line of the key is outside the span');
      if (endsWith === null) assert.ok(span.endsWith(parts(key).end), 'the span ends with the END line');
      else assert.ok(span.endsWith(endsWith(key)), 'the span ends with the key material, not the text after it');
    });
  }
}

const rsaLines = base64Lines(pem(rsa, 'pkcs8'));
const sshLines = base64Lines(OPENSSH_ED25519);
const notKeys: Array<[string, string]> = [
  ['`...` alone', '-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----'],
  ['`<your key here>`', '-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----'],
  ['a redacted body of x', `-----BEGIN PRIVATE KEY-----\n${'X'.repeat(64)}\n${'X'.repeat(64)}\n-----END PRIVATE KEY-----`],
  ['a key\'s first characters and `...`', '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----'],
  ['a real key\'s first line and `...`', `-----BEGIN PRIVATE KEY-----\n${rsaLines[0]}\n...\n-----END PRIVATE KEY-----`],
  ['a real key\'s first three lines, no END line', `-----BEGIN PRIVATE KEY-----\n${rsaLines.slice(0, 3).join('\n')}\n`],
  ['an OpenSSH key\'s first line and `...`', `-----BEGIN OPENSSH PRIVATE KEY-----\n${sshLines[0]}\n...\n-----END OPENSSH PRIVATE KEY-----`],
  ['a BEGIN line in prose, no END line', `Paste the key after -----BEGIN PRIVATE KEY----- and keep the rest. ${'Words of prose follow here. '.repeat(40)}`],
  ['a BEGIN line, `...`, then a certificate block', `-----BEGIN PRIVATE KEY-----\n...\n-----BEGIN CERTIFICATE-----\n${rsaLines.slice(0, 8).join('\n')}\n-----END CERTIFICATE-----`],
  ['a BEGIN line with base64-alphabet prose and `...`', `-----BEGIN PRIVATE KEY-----\nYourBase64EncodedPrivateKeyGoesHere\nAndItContinuesForSeveralLinesLikeThis\n...\n-----END PRIVATE KEY-----`],
];
for (const [name, text] of notKeys) {
  test(`not a private key: ${name}`, () => assert.equal(verdictEnd(text), null));
}

// Through the real detectors and the engine: the finding is one private_key, and redaction
// leaves no line of the key in the body.
const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const engine = createDlpEngine(detectors);
for (const [vname, edit] of variants) {
  test(`private key in a chat body, ${vname}: found and redacted whole`, () => {
    const key = pem(rsa, 'pkcs8');
    const body = JSON.stringify({ messages: [{ role: 'tool', content: `$ cat key.pem\n${edit(key)}\n$ exit` }] });
    const r = engine.inspect(request(body), policy({ packs: detectors.packNames, actions: { private_key: 'redact' } }));
    assert.deepEqual(r.findings.map((f) => f.type), ['private_key']);
    assert.equal(r.decision, 'redact');
    const out = r.body?.toString('utf8') ?? '';
    for (const line of base64Lines(key)) assert.ok(!out.includes(line), 'a base64 line of the key is left in the redacted body');
    assert.ok(out.includes('$ exit'), 'the text after the key is kept');
  });
}

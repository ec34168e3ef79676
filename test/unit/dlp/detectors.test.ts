/**
 * scan(), span claiming, honeytokens, archives, mightMatch, mask/replacement/fingerprint.
 * Values are synthetic or public test values; test names never contain them.
 *
 * Note: STYLE.md's "every chunk split" rule does not apply here: scan() works on whole
 * decoded views (the pipeline buffers bodies up to max_inspect), never on stream chunks.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import type { Match } from '../../../proxy/dlp/types.js';
import { lzwLiterals } from './inspect-helpers.js';

const CANARY = 'WARDEN-CANARY-7f3a9c21';
const HASHED = 'canary-hashed-d81e22';
const d = compileDetectors({
  honeytokens: [
    { id: 'ht-literal', value: CANARY, sha256: null },
    { id: 'ht-digest', value: null, sha256: createHash('sha256').update(HASHED).digest('hex') },
  ],
  fingerprintKey: Buffer.from('unit-test-key'),
});

function scan(text: string, key: string | null = null, packs: readonly string[] | null = null): Match[] {
  return d.scan({ text, where: 'body', key }, packs);
}
const types = (text: string, key: string | null = null): string[] => scan(text, key).map((m) => m.type);

const positives: Array<[string, string, string, string | null]> = [
  ['email in prose', 'write to jane.doe@example.org please', 'email', null],
  // Red team, session 14: read as `user:password@host` and dropped.
  ['email in a mailto: link', '<a href="mailto:jane.doe@example.org">Jane</a>', 'email', null],
  ['email in a markdown mailto: link', '[Jane](MAILTO:jane.doe@example.org)', 'email', null],
  ['email after To: without a space', 'To:jane.doe@example.org', 'email', null],
  ['email after Email: without a space', 'name=Jane\nEmail:jane.doe@example.org', 'email', null],
  ['email after reply-to:', 'reply-to:jane.doe@example.org', 'email', null],
  ['card with dashes', 'card 4556-7375-8689-9855', 'credit_card', null],
  ['card without separators', '{"pan":"5425233430109903"}', 'credit_card', null],
  ['ssn with dashes', 'SSN 536-90-4399', 'us_ssn', null],
  ['undelimited ssn under an ssn key', '536904399', 'us_ssn', 'ssn'],
  ['itin', 'ITIN 912-71-3456', 'us_itin', null],
  ['iban with spaces', 'IBAN GB82 WEST 1234 5698 7654 32', 'iban', null],
  ['public ipv4', 'from 8.8.4.4', 'ip_address', null],
  ['ipv6 with zone', 'gw fe80::1%eth0', 'ip_address', null],
  ['e164 phone', 'call +44 20 7946 0958', 'phone', null],
  ['aws key id', 'aws_access_key_id=AKIA7ZNGSOKPXYIZFMSR', 'aws_access_key_id', null],
  ['github token', 'GITHUB_TOKEN=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', 'github_token', null],
  ['password in url', 'postgres://app:Zr7-kq2LmX@db.internal:5432/app', 'password_in_url', null],
  ['generic secret by key name', '"client_secret": "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"', 'generic_secret', null],
  ['generic secret from the view key', 'Qw7rT2xk9Lm4vB8nZ1', 'generic_secret', 'password'],
  ['basic auth decodes to user:pass', 'Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'http_auth_credential', null],
  ['base64 zip inside JSON', '{"file":"UEsDBBQAAAAIACEAYWJjZGVmZ2g="}', 'archive', null],
];
for (const [name, text, type, key] of positives) {
  test(`scan finds: ${name}`, () => assert.ok(types(text, key).includes(type), `expected ${type}`));
}

/** DLP.md §4 false-positive traps and other negatives: nothing (or not that type) is reported. */
const negatives: Array<[string, string, string]> = [
  ['epoch milliseconds are not cards (trap 1)', 'ts=1748503543012', 'credit_card'],
  ['Luhn failure even with a card hotword (trap 2)', 'my credit card number is 4012-8888-8888-1882', 'credit_card'],
  ['UUID request id is not a secret (trap 4)', '{"request_id": "8c1f2a7e-41b0-4c9d-9e3a-5f6b7c8d9e0f"}', 'generic_secret'],
  ['ZIP+4 is not an SSN (trap 5)', 'San Francisco, CA 94107-1234', 'us_ssn'],
  ['never-issued SSN area 666 (trap 5)', 'id 666-12-3456', 'us_ssn'],
  ['ITIN is never an SSN (trap 6)', 'ITIN 912-71-3456', 'us_ssn'],
  ['ticket id is not a phone (trap 7)', 'see REF-2024-555-0173-88', 'phone'],
  ['NANP exchange 0xx is not a US phone (trap 7)', 'ref 401-023-2138', 'phone'],
  ['url userinfo is not an email (trap 8)', 'https://admin:s3cretPass@db.example.com/x', 'email'],
  ['user:password@host without a scheme is not an email', 'connect admin:s3cretPass@db.example.com', 'email'],
  ['... nor when the user is a label-like word inside a longer one', 'connect xto:s3cretPass@db.example.com', 'email'],
  ['documentation AWS key (trap 9)', 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE', 'aws_access_key_id'],
  ['template variable (trap 9)', 'password = ${DB_PASSWORD}', 'generic_secret'],
  ['version string is not an IP (trap 11)', 'Chrome/124.0.6367.91', 'ip_address'],
  ['OID is not an IP (trap 11)', 'oid 1.2.840.113549.1.1.1', 'ip_address'],
  ['public key block is not a private key (trap 13)', '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxq7Vb3J1g9ZkTnV0Yw8q2h3Zb7LQ\n-----END PUBLIC KEY-----', 'private_key'],
  ['git sha is not an AWS secret', 'commit 6d1d67ffe11b5433c4553552e0db6e9bf0c98a99', 'aws_secret_access_key'],
  ['entropy alone is never a secret', 'blob Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB end', 'generic_secret'],
  ['publishable stripe key', 'pk_live_fqqFW5lkhUcBurGzXKXMm2wa', 'stripe_key'],
  ['PNG in base64 is not an archive', '{"img":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"}', 'archive'],
];
for (const [name, text, type] of negatives) {
  test(`scan ignores: ${name}`, () => assert.ok(!types(text).includes(type), `unexpected ${type}`));
}

test('clean prose yields nothing', () => assert.deepEqual(scan('The quarterly report is attached; revenue grew 4% over 12 months.'), []));

const claiming: Array<[string, string, string, string]> = [
  ['no phone inside a card', 'card 4556 7375 8689 9855', 'credit_card', 'phone'],
  ['no phone inside an IBAN', 'AL47 2121 1009 0000 0002 3569 8741', 'iban', 'phone'],
  ['no email inside user:pass@host', 'mongodb://reader:P4ssw0rd2024@mongo0.example.com:27017', 'password_in_url', 'email'],
  ['jwt wins over the bearer header', 'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl', 'jwt', 'http_auth_credential'],
  ['vendor key wins over the generic secret', 'api_key = "sk_live_fqqFW5lkhUcBurGzXKXMm2wa"', 'stripe_key', 'generic_secret'],
];
for (const [name, text, winner, loser] of claiming) {
  test(`span claiming: ${name}`, () => {
    const t = types(text);
    assert.ok(t.includes(winner), `expected ${winner}`);
    assert.ok(!t.includes(loser), `unexpected ${loser}`);
  });
}

test('spans never overlap after claiming', () => {
  const ms = scan('card 4556 7375 8689 9855, mail jane.doe@example.org, ip 203.0.113.7, +44 20 7946 0958');
  const sorted = [...ms].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) assert.ok((sorted[i - 1]?.end ?? 0) <= (sorted[i]?.start ?? 0));
});

test('offsets are UTF-16 offsets into the text, also after non-ASCII characters', () => {
  const text = 'héllo 😀 naïve jane.doe@example.org ✓';
  const m = scan(text).find((x) => x.type === 'email');
  assert.ok(m !== undefined);
  assert.equal(text.slice(m.start, m.end), m.value);
  assert.equal(m.value.length, 20);
});

test('actions: public test PAN is log, live secret blocks, low-confidence phone logs', () => {
  const pan = scan('card 4111 1111 1111 1111').find((m) => m.type === 'credit_card');
  assert.equal(pan?.defaultAction, 'log');
  const gh = scan('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').find((m) => m.type === 'github_token');
  assert.equal(gh?.defaultAction, 'block');
  assert.equal(gh?.confidence, 'high');
  const stripeTest = scan('rk_test_J0wXdYpsBInDoxSI5z0or4poQ').find((m) => m.type === 'stripe_key');
  assert.equal(stripeTest?.defaultAction, 'redact');
  const phone = scan('ref 212-555-0187').find((m) => m.type === 'phone');
  assert.equal(phone?.defaultAction, 'log');
  const phoneCtx = scan('phone 212-555-0187').find((m) => m.type === 'phone');
  assert.equal(phoneCtx?.defaultAction, 'redact');
});

test('packs filter: pii only does not report secrets', () => {
  const t = scan('mail jane.doe@example.org key AKIA7ZNGSOKPXYIZFMSR', null, ['pii']).map((m) => m.type);
  assert.deepEqual(t, ['email']);
});

const honey: Array<[string, string, boolean]> = [
  ['literal canary', `please forward ${CANARY} to ops`, true],
  ['literal canary inside JSON', `{"note":"${CANARY}"}`, true],
  ['near miss (last char)', `forward ${CANARY.slice(0, -1)}x`, false],
  ['case differs', `forward ${CANARY.toLowerCase()}`, false],
  ['sha256 canary as a token', `token: ${HASHED};`, true],
  ['sha256 canary glued by = is found as a run of the token\'s pieces (honeytokens.test.ts)', `token=${HASHED}`, true],
  ['sha256 canary with a suffix is a different token', `token: ${HASHED}x`, false],
];
for (const [name, text, hit] of honey) {
  test(`honeytokens: ${name}`, () => {
    const hits = scan(text).filter((m) => m.type === 'honeytoken');
    assert.equal(hits.length > 0, hit);
    if (hit) {
      assert.equal(hits[0]?.defaultAction, 'block');
      assert.equal(hits[0]?.pack, 'honeytokens');
      assert.ok(hits[0]?.honeytokenId === 'ht-literal' || hits[0]?.honeytokenId === 'ht-digest');
    }
  });
}
test('honeytokens run whatever packs says', () => {
  assert.ok(scan(`x ${CANARY} y`, null, []).some((m) => m.type === 'honeytoken'));
});

const tarHeader = (): Buffer => {
  const b = Buffer.alloc(512);
  b.write('ustar\u000000', 257, 'latin1');
  return b;
};
const archives: Array<[string, Buffer, string | null]> = [
  ['zip', Buffer.from('504b030414000000', 'hex'), 'zip'],
  ['empty zip', Buffer.from('504b05060000', 'hex'), 'zip'],
  ['gzip', Buffer.from('1f8b0800000000', 'hex'), 'gzip'],
  ['bzip2', Buffer.from('BZh91AY&SY', 'latin1'), 'bzip2'],
  ['xz', Buffer.from('fd377a585a0000', 'hex'), 'xz'],
  ['zstd', Buffer.from('28b52ffd0400', 'hex'), 'zstd'],
  ['7z', Buffer.from('377abcaf271c0004', 'hex'), '7z'],
  ['rar v4', Buffer.from('526172211a0700', 'hex'), 'rar'],
  ['rar v5', Buffer.from('526172211a070100', 'hex'), 'rar'],
  ['tar (ustar at 257)', tarHeader(), 'tar'],
  ['cab', Buffer.from('MSCF\u0000\u0000', 'latin1'), 'cab'],
  ['lz4', Buffer.from('04224d18', 'hex'), 'lz4'],
  ['compress', lzwLiterals(Buffer.from('DB_PASSWORD=hunter2 and more')), 'compress'],
  ['compress magic, then bytes no LZW stream holds', Buffer.from('1f9d90ffffffffffffffffffffffffffff', 'hex'), null],
  ['zlib', deflateSync('DB_PASSWORD=hunter2'), 'zlib'],
  ['zlib header, then bytes that do not inflate', Buffer.from('789cffffffffffffffffffffffff', 'hex'), null],
  ['ar', Buffer.from('!<arch>\nfoo', 'latin1'), 'ar'],
  ['cpio', Buffer.from('070701000000', 'latin1'), 'cpio'],
  ['png is not an archive', Buffer.from('89504e470d0a1a0a', 'hex'), null],
  ['pdf is not an archive', Buffer.from('%PDF-1.7', 'latin1'), null],
  ['empty body', Buffer.alloc(0), null],
];
for (const [name, bytes, format] of archives) {
  test(`archive magic: ${name}`, () => assert.equal(d.detectArchive(bytes), format));
}

const might: Array<[string, string, boolean]> = [
  ['clean text', '{"messages":[{"role":"user","content":"hello there"}]}', false],
  ['text with an email', '{"content":"mail jane.doe@example.org"}', true],
  ['text with a honeytoken literal', `{"x":"${CANARY}"}`, true],
  ['text with a sha256 honeytoken', `{"x":"${HASHED}"}`, true],
  // Nothing to match as written, but the full path also scans the integer it stands for.
  ['a JSON number written with an exponent', '{"role": "user", "n": 5.36228143e8}', true],
];
for (const [name, text, expected] of might) {
  test(`mightMatch: ${name}`, () => assert.equal(d.mightMatch(Buffer.from(text), null), expected));
}
test('mightMatch: raw zip bytes with the archives pack', () => {
  assert.equal(d.mightMatch(Buffer.from('504b030414000000', 'hex'), ['archives']), true);
});

const masks: Array<[string, Match, string, string]> = [
  ['card keeps last 4 and separators', mk('credit_card', '4556-7375-8689-9855'), '****-****-****-9855', '****-****-****-9855'],
  ['ssn keeps last 4', mk('us_ssn', '536-90-4399'), '***-**-4399', '[REDACTED:us_ssn]'],
  ['long key keeps 4+4', mk('aws_access_key_id', 'AKIA7ZNGSOKPXYIZFMSR'), 'AKIA************FMSR', '[REDACTED:aws_access_key_id]'],
  ['short value keeps nothing', mk('generic_secret', 'hunter2x'), '********', '[REDACTED:generic_secret]'],
];
function mk(type: string, value: string): Match {
  return { type, value, patternId: `t.${type}`, pack: 't', start: 0, end: value.length, confidence: 'high', defaultAction: 'redact' };
}
for (const [name, m, mask, repl] of masks) {
  test(`mask/replacement: ${name}`, () => {
    assert.equal(d.mask(m), mask);
    assert.equal(d.replacement(m), repl);
  });
}
test('fingerprint: keyed, 16 hex chars, stable', () => {
  const a = d.fingerprint('value-1');
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.equal(d.fingerprint('value-1'), a);
  assert.notEqual(d.fingerprint('value-2'), a);
  const other = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('other-key') });
  assert.notEqual(other.fingerprint('value-1'), a);
});

test('packNames lists the shipped packs', () => {
  for (const p of ['pii', 'secrets', 'archives']) assert.ok(d.packNames.includes(p));
});

test('private IPs are labelled but only logged; public IPs are redacted', () => {
  assert.equal(scan('host 10.1.2.3').find((m) => m.type === 'ip_address')?.defaultAction, 'log');
  assert.equal(scan('host 8.8.4.4').find((m) => m.type === 'ip_address')?.defaultAction, 'redact');
});

// Separators besides one space and a dash (red team, session 12): the same number found, a
// path, a dotted name or a table row not taken for one, and a 3-2-4 SSN shape with a rare
// separator counted only beside a hotword.
const separators: Array<[string, string, string | null, string | null]> = [
  // name, text, expected type, expected confidence (null: nothing of the card/SSN types)
  ['card with dots', 'ref 4556.7375.8689.9855', 'credit_card', 'medium'],
  ['card with slashes', 'ref 4556/7375/8689/9855', 'credit_card', 'medium'],
  ['card with underscores', 'ref 4556_7375_8689_9855', 'credit_card', 'medium'],
  ['card with tabs', 'ref 4556\t7375\t8689\t9855', 'credit_card', 'medium'],
  ['card with two spaces', 'ref 4556  7375  8689  9855', 'credit_card', 'medium'],
  ['card with spaced dashes', 'ref 4556 - 7375 - 8689 - 9855', 'credit_card', 'medium'],
  // 1 random 12-digit number in ~70 reads as a Luhn-valid Maestro PAN (an AWS account id in an ARN).
  ['a 12-digit Maestro-like run in an ARN: logged', 'arn:aws:iam::589229748605:role/deploy', 'credit_card', 'low'],
  ['a 15-digit Maestro-like run alone: logged', 'order 501234567890123 shipped', 'credit_card', 'low'],
  ['the 12-digit run beside a card word', 'maestro card 589229748605', 'credit_card', 'medium'],
  ['the 12 digits grouped as a card is written', 'ref 5892 2974 8605', 'credit_card', 'medium'],
  ['a 16-digit Maestro run, as before', 'ref 6759123456789015', 'credit_card', 'medium'],
  ['card in a URL path', '/orders/4556/7375/8689/9855', null, null],
  ['card in a tab-separated row of 4-digit numbers', '1234\t4556\t7375\t8689\t9855\t1234', null, null],
  ['card groups, mixed separators', 'ref 4556.7375/8689.9855', null, null],
  ['a decimal number', 'x 12.4556737586899855', null, null],
  ['a decimal number with dotted groups', 'x 0.4556.7375.8689.9855', null, null],
  ['ssn with slashes beside a hotword', 'ssn 536/22/8143', 'us_ssn', 'high'],
  ['ssn with slashes alone: logged', 'id 536/22/8143 on file', 'us_ssn', 'low'],
  ['ssn with tabs beside a hotword', 'SSN:\t536\t22\t8143', 'us_ssn', 'high'],
  ['ssn with two spaces alone: logged', 'id 536  22  8143', 'us_ssn', 'low'],
  ['ssn with dots alone, as before', 'id 536.22.8143', 'us_ssn', 'medium'],
  ['ssn shape in a URL path', 'GET /files/536/22/8143', null, null],
  ['ssn shape in a dotted name', 'pkg 1.536.22.8143', null, null],
  ['ssn with two separators', 'ssn 536/22-8143', null, null],
];
for (const [name, text, type, confidence] of separators) {
  test(`separators: ${name}`, () => {
    const got = scan(text).filter((m) => m.type === 'credit_card' || m.type === 'us_ssn');
    if (type === null) assert.deepEqual(got.map((m) => m.type), []);
    else assert.deepEqual(got.map((m) => [m.type, m.confidence]), [[type, confidence]]);
  });
}

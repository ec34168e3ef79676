/**
 * Checksums and validators, table-driven. Values are synthetic or public test numbers; test
 * names describe the case, never the value.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  abaValid, base58CheckValid, bech32Valid, crc32, ibanMod97Valid, luhnValid, nhsValid, prefixedCrc32Valid,
} from '../../../proxy/dlp/checksums.js';
import { isPlaceholder, shannonEntropy } from '../../../proxy/dlp/entropy.js';
import { cardBrand, ibanValid, usSsn } from '../../../proxy/dlp/validators/pii.js';
import { genericValueVerdict, jwt, passphraseVerdict, privateKey, secretKeyName } from '../../../proxy/dlp/validators/secrets.js';
import type { Validator } from '../../../proxy/dlp/validators/types.js';

/** Run a validator on a whole-text candidate. */
function run(v: Validator, text: string): boolean {
  return v({ text, start: 0, end: text.length, value: text, groups: [text], matchStart: 0, key: null, hasContext: false }) !== null;
}

const luhnCases: Array<[string, string, boolean]> = [
  ['visa public test number', '4111111111111111', true],
  ['mastercard synthetic', '5425233430109903', true],
  ['one digit off', '4111111111111112', false],
  ['amex public test number', '378282246310005', true],
  ['non-digits', '4111-1111', false],
];
for (const [name, value, ok] of luhnCases) test(`luhn: ${name}`, () => assert.equal(luhnValid(value), ok));

const iinCases: Array<[string, string, string | null]> = [
  ['visa 16', '4556737586899855', 'visa'],
  ['mastercard 2-series', '2223003122003222', 'mastercard'],
  ['amex 15', '378282246310005', 'amex'],
  ['uatp only at 15 digits', '122000000000003', 'uatp'],
  ['13-digit epoch ms is not uatp', '1748503543012', null],
  ['16-digit microsecond timestamp', '1748503543012345', null],
  ['visa with wrong length', '45567375868998', null],
  ['maestro 12', '501971701010', 'maestro'],
];
for (const [name, value, brand] of iinCases) test(`IIN table: ${name}`, () => assert.equal(cardBrand(value), brand));

const ssnCases: Array<[string, string, boolean]> = [
  ['issuable dashed', '536-90-4399', true],
  ['area 000', '000-12-3456', false],
  ['area 666', '666-12-3456', false],
  ['area 9xx is ITIN space', '912-70-1234', false],
  ['group 00', '536-00-4399', false],
  ['serial 0000', '536-90-0000', false],
  ['published sample', '078-05-1120', false],
  ['one repeated digit', '111111111', false],
];
for (const [name, value, ok] of ssnCases) test(`ssn ranges: ${name}`, () => assert.equal(run(usSsn, value), ok));

const ibanCases: Array<[string, string, boolean]> = [
  ['GB public example', 'GB82WEST12345698765432', true],
  ['DE public example', 'DE89370400440532013000', true],
  ['check digits off by one', 'GB82WEST12345698765433', false],
  ['wrong length for country', 'GB82WEST1234569876543', false],
  ['unknown country', 'ZZ82WEST12345698765432', false],
];
for (const [name, value, ok] of ibanCases) test(`iban mod-97 + length: ${name}`, () => assert.equal(ibanValid(value), ok));
test('iban mod-97 alone rejects lower case', () => assert.equal(ibanMod97Valid('gb82west12345698765432'), false));

test('crc32 matches the zlib check value', () => assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926));

const ghCases: Array<[string, string, boolean]> = [
  ['synthetic token with valid checksum', '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', true],
  ['same token, last char changed', 'ghp_AHMOr5olk2Npiy5dUn1vhtkg5RUjbQ0hZQPP', false],
  ['placeholder', 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', false],
];
for (const [name, value, ok] of ghCases) test(`github crc32: ${name}`, () => assert.equal(prefixedCrc32Valid(value, 4), ok));

const walletCases: Array<[string, (s: string) => boolean, string, boolean]> = [
  ['base58check P2PKH (public example)', base58CheckValid, '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2', true],
  ['base58check P2SH (public example)', base58CheckValid, '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', true],
  ['base58check bad checksum', base58CheckValid, '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3', false],
  ['bech32 v0 (BIP-173 example)', bech32Valid, 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', true],
  ['bech32 bad checksum', bech32Valid, 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', false],
  ['bech32m v1 (BIP-350 example)', bech32Valid, 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0', true],
];
for (const [name, fn, value, ok] of walletCases) test(`wallet: ${name}`, () => assert.equal(fn(value), ok));

const abaNhs: Array<[string, boolean]> = [['011000015', true], ['011000016', false]];
for (const [v, ok] of abaNhs) test(`aba 3-7-1 checksum ${ok ? 'passes' : 'fails'}`, () => assert.equal(abaValid(v), ok));
test('nhs mod-11 passes and fails', () => {
  assert.equal(nhsValid('9434765919'), true);
  assert.equal(nhsValid('9434765918'), false);
});

const b64u = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwtCases: Array<[string, string, boolean]> = [
  ['HS256 token', `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u({ sub: 'u1' })}.c2ln`, true],
  ['alg none with empty signature', `${b64u({ alg: 'none' })}.${b64u({ sub: 'u1' })}.`, true],
  ['header without alg or typ', `${b64u({ nota: 'jwt' })}.${b64u({ sub: 'u1' })}.c2ln`, false],
  ['payload not JSON', `${b64u({ alg: 'HS256' })}.${Buffer.from('hello world').toString('base64url')}.c2ln`, false],
  ['two segments only', `${b64u({ alg: 'HS256' })}.${b64u({ sub: 'u1' })}`, false],
];
for (const [name, value, ok] of jwtCases) test(`jwt: ${name}`, () => assert.equal(run(jwt, value), ok));

const body64 = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vq3J1g9ZkTnV0Yw8';
const pemCases: Array<[string, string, boolean]> = [
  ['body of 64+ base64 chars', `-----BEGIN PRIVATE KEY-----\n${body64}\n-----END PRIVATE KEY-----`, true],
  ['JSON-escaped newlines', `-----BEGIN PRIVATE KEY-----\\n${body64}\\n-----END PRIVATE KEY-----`, true],
  ['short body', '-----BEGIN PRIVATE KEY-----\nanything\n-----END PRIVATE KEY-----', false],
  ['redacted body', `-----BEGIN PRIVATE KEY-----\n<redacted ${'x'.repeat(70)}>\n-----END PRIVATE KEY-----`, false],
];
for (const [name, value, ok] of pemCases) test(`private key body: ${name}`, () => assert.equal(run(privateKey, value), ok));

const placeholderCases: Array<[string, string, boolean]> = [
  ['shell variable', '${API_KEY}', true], ['angle brackets', '<token>', true], ['template', '{{ secret }}', true],
  ['x run', 'xxxxxxxxxxxx', true], ['EXAMPLE suffix', 'AKIAIOSFODNN7EXAMPLE', true], ['your-api-key', 'your-api-key', true],
  ['random secret', 'Qw7rT2xk9Lm4vB8n', false],
];
for (const [name, value, ok] of placeholderCases) test(`placeholder filter: ${name}`, () => assert.equal(isPlaceholder(value), ok));
test('entropy of a repeated char is 0 and of 16 distinct chars is 4', () => {
  assert.equal(shannonEntropy('aaaa'), 0);
  assert.equal(shannonEntropy('0123456789abcdef'), 4);
});

// Red team, session 14 (F5): key names excluded by a substring anywhere (`count`, `sha`, `vault`,
// `author`, `time`, `file`, `endpoint`…) instead of a word.
const keyNames: Array<[key: string, secret: boolean]> = [
  ['password', true], ['account_password', true], ['shared_secret', true], ['SharedAccessKey', true],
  ['vault_password', true], ['ansible_vault_password', true], ['VAULT_TOKEN', true], ['authorizationToken', true],
  ['authorization_token', true], ['one_time_password', true], ['update_token', true], ['profile_password', true],
  ['endpoint_secret', true], ['provider_secret', true], ['source_password', true], ['header_secret', true],
  ['policy_token', true], ['scope_token', true], ['format_secret', true], ['DB_PASSWORD', true], ['clientSecret', true],
  ['token_url', false], ['password_hint', false], ['passwordVariable', false], ['auth_method', false], ['secret_name', false],
  ['csrf_token', false], ['authenticity_token', false], ['public_key', false], ['token_type', false], ['tokenExpiresAt', false],
  ['token_expiry', false], ['password_length', false], ['keyVaultToStoreSecrets', false], ['author', false], ['secretId', false],
  ['max_tokens', true], // a number: the value rule drops it
];
for (const [key, secret] of keyNames) {
  test(`secretKeyName: ${key}`, () => assert.equal(secretKeyName(key), secret));
}

test('generic secret values: an @ makes a value an e-mail address only with a real domain', () => {
  assert.equal(genericValueVerdict('jane.doe@example.org'), null);
  assert.notEqual(genericValueVerdict('Qw7rT2@xk9Lm4vB8nZ1'), null);
  assert.notEqual(genericValueVerdict('Qw7rT2@xk9Lm4.vB8nZ1'), null);
});

// Red team, session 14 (F5): values that hold spaces are passphrases only under a password or
// secret key, and only when they read as a few words rather than a label or a sentence.
const passphrases: Array<[key: string, value: string, secret: boolean]> = [
  ['password', 'correct horse battery staple', true], ['DB_PASSWORD', 'tulip orbit 42 canyon', true],
  ['db_passphrase', 'violet   ember  quarry  mosaic', true], ['client_secret', 'amber falcon ridge', true],
  ['api_token', 'correct horse battery staple', false], ['password_error', 'correct horse battery staple', false],
  ['password', 'Please enter your password', false], ['password', 'Mot de passe', false],
  ['new_password', 'Neues Passwort eingeben', false], ['password', 'must contain a digit', false],
  ['password', 'correct horse battery staple.', false], ['password', 'two words', false],
  ['password', '${DB_PASSWORD} and more', false], ['password', 'your password here please', false],
];
for (const [key, value, secret] of passphrases) {
  test(`passphrase: ${key} = ${value}`, () => assert.equal(passphraseVerdict(key, value) !== null, secret));
}

// Found scanning real code (red team, session 14, F5 false-positive study): references, not values.
const notValues: Array<[value: string, secret: boolean]> = [
  ['process.env.DB_PASSWORD', false], ['options.getPrivateKey', false], ['event.usage.cache_read_input_tokens', false],
  ['DBUS_COOKIE_SHA1', false], ['请输入您的新密码至少8位并包含字母和数字', false],
  ['Qw7rT2xk9Lm4vB8n', true], ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', true],
  ['Qw7r.T2xk9.Lm4vB8n', true], ['Qw7rT2xk9Lm4vB8né', true],
];
for (const [value, secret] of notValues) {
  test(`generic secret value: ${value.slice(0, 24)}`, () => assert.equal(genericValueVerdict(value) !== null, secret));
}

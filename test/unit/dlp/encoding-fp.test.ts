/**
 * Clean text that the readings added for the red team's session 14 (short base64 runs,
 * lower-case IBANs, e-mail domains with diacritics, C0 controls inside a value) must find
 * nothing in: identifiers, hashes, words, constants, code. Each row goes through inspect() with
 * the real detectors, as a chat message, as a JSON value, and as a text body, on the default
 * engine and on the full path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

export const CLEAN: Array<[string, string[]]> = [
  // group, texts
  ['identifiers and words that are base64-shaped', [
    'Password1', 'Password12', 'userName', 'fileType', 'camelCaseName', 'getElementById', 'isActive', 'TypeType',
    'ListType', 'closelog', 'blowfish', 'RSA_SHA1', 'SUB-MENU', 'REFENTRY', 'endsWith', 'bindings', 'encoding',
    'UTF-16LE', 'feminine', 'Question', 'ctypedef', 'annotate', 'finalize', 'andrelop', 'fitsdisp', 'bytefile',
  ]],
  ['ids and hashes', [
    'deadbeefcafe0123', 'f47ac10b', '58cc', '4372', 'a567', '0e02b2c3d479', 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
    '3f2b8c1e', '9f86d081884c7d65', 'sha1-3f2b8c1e9d4a4e6b', 'call_4a7b9c0d1e2f', 'req_01H8XGJWBWBAQ4Z5',
    '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
  ]],
  ['code with `=` and `==`', [
    'if (userName== null) return;', 'x.binding= 1; OFFLINE= 0', 'a==b', 'count1== 2', 'const token = getToken();',
    'export DEBUG=1 NODE_ENV=production', 'x = y == z ? a : b', 'key=value&other=thing', 'PATH=/usr/bin:/bin',
  ]],
  ['a Kubernetes Secret with nothing sensitive in it', [
    `data:\n  username: ${Buffer.from('admin').toString('base64')}\n  region: ${Buffer.from('eu-west-1').toString('base64')}\n  replicas: ${Buffer.from('3').toString('base64')}`,
  ]],
  ['lower-case hex ids, UUIDs and names with two letters and two digits (IBAN shapes)', [
    'de12cdef-58cc-4372-a567-0e02b2c3d479', 'be12abcdef0123456789ab', 'ad04169e9cfcf4e3ad04169e', 'de1234567890',
    'ae76-2b20e5a5300b', 'gb2312prober import', 'GB2312Prober', 'ie11fingerprint', 'md55d9c68c6c50ed3d02a2fcf54f63993b6',
    'gm62-xv2j-4rw9', 'sh35ksdf09sf', 'py37 this becomes', 'no12 with this that', 'de89 3704 0044 0532 0130 01',
  ]],
  ['non-ASCII text near @ (e-mail shapes)', [
    '@müller says hi', 'café@ noon', 'naïve café “quoted” 東京', 'jane@exämple', 'user@host.ünknown', 'x@y.ü',
    '用户@例子.广告', 'größe@ 3', 'Ünïcödé@@', 'a@b', '@@ü',
  ]],
  ['upper-case runs of the base32 alphabet', [
    'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 'PFNGLCOMPRESSEDTEXSUBIMAGE2DPROC', 'H77SYXWORDPGVOQTFRR2HFUB3C45XXI7',
    'AAAAABBBBBCCCCCDDDDDEEEEEFFFFFGGGGGHHHHHIIJJJJJKKK', 'THISISAVERYLONGCONSTANTNAMEWITHOUTUNDERSCORES',
    'GL_COMPRESSED_RGBA_S3TC_DXT5_EXT_AND_MORE_NAMES',
  ]],
  ['lower-case runs of the base32 alphabet (words, digests, onion names, TOTP secrets)', [
    'thequickbrownfoxjumpsoverthelazydog', 'abcdefghijklmnopqrstuvwxyz234567', 'internationalizationandlocalization',
    'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion', 'jbswy3dpehpk3pxpjbswy3dpehpk3pxp',
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256-ba7816bf8f01cfea414140de5dae2223b00361a3',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  ]],
  ['tables of numbers (od -t x1, od -x, od -b shapes)', [
    'scores: 45 67 32 55 38 61 42 39 50 48 and more', ' 35 33 36 32 32 38 31 34 33 30 31 32', '2019 2020 2021 2022 2023 2024 2025 2026',
    'chmod 755 644 600 700 750 640 444 555 775 664', ' 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f',
    'e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c', '0000000 0000 0000 0000 0000 0000 0000 0000 0000\n0000020',
    'de ad be ef ca fe ba be 00 11 22 33 44 55 66 77', ' 123 456 789 012 345 678 901 234 567 890',
  ]],
  ['words shaped like short base64 of digits (`I`–`O`, then one of `CDSTijyz`, twice)', [
    'MS-DOS', 'IS_POSSIBLE', 'JSONLDecoder', 'ISNONTERMINAL', 'MSGFMT_EXE', 'OS_ANDROID', 'NSString', 'MTIzNDU2Nzg5MA',
    'the LDE/LDER pair', 'ISIkJSMmJyonKCk',
  ]],
  ['control characters between short values (dropped when normalised)', [
    'a\u0000b\u0000c', '12\u000034\u000056', 'col1\u001fcol2\u001ecol3', '\u001b[31mred\u001b[0m 2026-11-23', 'v1.2\b.3',
  ]],
  ['text with runs of three spaces (od -c shapes)', [
    "    #   /   Used when a path is", "'   1   2   3   '.split()", '   a       b       c', '|   a   |   b   |', 'x   =   1   +   2',
  ]],
  ['constants and enum names', [
    'ENUM_NAMES_LIKE_THIS', 'MAX_RETRY_COUNT', 'HTTP_STATUS_NOT_FOUND', 'SIGTERM', 'ERR_INVALID_ARG_TYPE',
  ]],
];

for (const [group, texts] of CLEAN) {
  for (const [ename, engine] of engines) {
    test(`no finding in clean text (${ename}): ${group}`, () => {
      const found: string[] = [];
      for (const t of texts) {
        const bodies: Array<[string, string]> = [
          [JSON.stringify({ messages: [{ role: 'user', content: `look at ${t} here` }] }), 'application/json'],
          [JSON.stringify({ value: t }), 'application/json'],
          [t, 'text/plain'],
        ];
        for (const [body, ct] of bodies) {
          const r = engine.inspect(request(body, { 'content-type': ct }), pol);
          // The row's index and the finding's type only: never the matched value.
          if (r.decision !== 'allow' || r.findings.length > 0) found.push(`${texts.indexOf(t)}:${ct}:${r.findings.map((f) => f.type).join(',') || r.reason}`);
        }
      }
      assert.deepEqual(found, []);
    });
  }
}

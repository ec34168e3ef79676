import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import type { CompiledDlpPolicy } from '../../../proxy/config/types.js';
import { actionFor, createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { Detectors, InspectRequest, InspectResult, Match, ScanView } from '../../../proxy/dlp/types.js';
import { utf8Reading, ViewBuilder } from '../../../proxy/dlp/views.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { cleanChatBody, FAKE_HONEYTOKEN, fakeDetectors, policy, request } from './inspect-helpers.js';

const SSN = '123-45-6789';
const CARD = '4111 1111 1111 1111';
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
/** The shipped packs, and a canary written in the base64 alphabet. */
const CTE_CANARY = 'WardenCanary5b1f9e2aQx';
const realWithCanary = compileDetectors({ honeytokens: [{ id: 'c1', value: CTE_CANARY, sha256: null }], fingerprintKey: Buffer.from('k') });

function inspect(req: InspectRequest, pol: Partial<CompiledDlpPolicy> = {}, det: Detectors = fakeDetectors()): InspectResult {
  return createDlpEngine(det).inspect(req, policy(pol));
}

/** Wraps the fake detectors and records every view scanned (use with the prefilters off). */
function recording(): { det: Detectors; views: ScanView[] } {
  const inner = fakeDetectors();
  const views: ScanView[] = [];
  const det: Detectors = { ...inner, scan: (v, p) => { views.push(v); return inner.scan(v, p); } };
  return { det, views };
}

/** Findings as compact `type@where:action×count` strings. */
function summary(r: InspectResult): string[] {
  return r.findings.map((f) => `${f.type}@${f.where}:${f.action}x${f.count}`);
}

function assertNoPlaintext(r: InspectResult, ...values: string[]): void {
  const audit = JSON.stringify({ ...r, body: null, url: null });
  for (const v of values) assert.ok(!audit.includes(v), `audit data holds a matched value`);
}

// ─── where / key of views ───────────────────────────────────────────────────────────────────

const whereCases: Array<[name: string, req: InspectRequest, expected: string[]]> = [
  ['JSON leaf with key path', request(JSON.stringify({ messages: [{ role: 'user', content: `ssn ${SSN}` }] })),
    ['us_ssn@body.messages[0].content:redactx1']],
  ['nested JSON in tool-call arguments', request(JSON.stringify({ tool_calls: [{ function: { arguments: JSON.stringify({ ssn: SSN }) } }] })),
    ['us_ssn@body.tool_calls[0].function.arguments.ssn:redactx1']],
  ['doubly nested JSON strings', request(JSON.stringify({ a: JSON.stringify({ b: JSON.stringify({ c: SSN }) }) })),
    ['us_ssn@body.a.b.c:redactx1']],
  ['object keys are scanned', request(JSON.stringify({ meta: { [SSN]: 'x' } })),
    ['us_ssn@body.meta{key}:redactx1']],
  ['JSON number', request('{"card": 4111111111111111}'),
    ['credit_card@body.card:redactx1']],
  ['JSON escapes decoded (\\u0040)', request('{"m":"mail bob\\u0040example.com"}'),
    ['email@body.m:redactx1']],
  ['percent-encoded text in a JSON leaf', request(JSON.stringify({ m: 'see https://x.test/?e=bob%40example.com' })),
    ['email@body.m:redactx1']],
  ['base64 text in a JSON leaf', request(JSON.stringify({ blob: b64(`notes: ssn ${SSN} on file, thanks`) })),
    ['us_ssn@body.blob:blockx1']],
  ['hex text in a JSON leaf (xxd -p)', request(JSON.stringify({ blob: Buffer.from(`notes: ssn ${SSN}\n`).toString('hex') })),
    ['us_ssn@body.blob:blockx1']],
  ['hex text in a query value', request('', {}, `/v1/x?d=${Buffer.from(`card ${CARD}`).toString('hex').toUpperCase()}`),
    ['credit_card@query:blockx1']],
  ['base64 in a path segment (the path is one base64-alphabet run)', request('', {}, `/v1/files/${Buffer.from(`notes ssn ${SSN} ok`).toString('base64url')}/content`),
    ['us_ssn@path:blockx1']],
  ['hex after a prefix in a path segment (file-<hex>)', request('', {}, `/v1/files/file-${Buffer.from(`the ssn is ${SSN}`).toString('hex')}`),
    ['us_ssn@path:blockx1']],
  ['in a body, a run is read whole only (segments are read in the URL path)', request(JSON.stringify({ p: `/srv/${Buffer.from(`notes ssn ${SSN} ok`).toString('base64url')}/x` })),
    []],
  ['a hex digest is not text', request(JSON.stringify({ sha: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' })),
    []],
  ['form field', request(`note=ssn+${SSN}&email=bob%40example.com`, { 'content-type': 'application/x-www-form-urlencoded' }),
    ['us_ssn@body.note:redactx1', 'email@body.email:redactx1']],
  ['query parameter and path', request('', {}, `/v1/users/${SSN}/x?email=bob%40example.com&q=1`),
    ['us_ssn@path:redactx1', 'email@query:redactx1']],
  ['header (redact becomes block)', request('{}', { 'x-note': `ssn ${SSN}` }),
    ['us_ssn@header:x-note:blockx1']],
  ['text body', request(`hello ${SSN}`, { 'content-type': 'text/plain' }),
    ['us_ssn@body:redactx1']],
  ['no content type, JSON sniffed', request(JSON.stringify({ a: SSN }), { 'content-type': '' }),
    ['us_ssn@body.a:redactx1']],
  ['declared JSON that does not parse (escapes decoded, not rewritable)', request('{"a": "bob\\u0040example.com", oops}'),
    ['email@body:blockx1']],
  ['binary body: printable text scanned', request(Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe]), Buffer.from(`ssn=${SSN};`), Buffer.from([0, 0xff])]), { 'content-type': 'application/octet-stream' }),
    ['us_ssn@body:blockx1']],
  // Other charsets: scanned as the server reads them; not rewritable in place, so redact → block.
  ['declared charset=utf-16le JSON', request(Buffer.from(JSON.stringify({ m: `ssn ${SSN}` }), 'utf16le'), { 'content-type': 'application/json; charset=utf-16le' }),
    ['us_ssn@body:blockx1']],
  ['declared charset=windows-1252 text', request(Buffer.from(`caf\u00e9 ssn ${SSN}`, 'latin1'), { 'content-type': 'text/plain; charset=windows-1252' }),
    ['us_ssn@body:blockx1']],
  ['undeclared UTF-16LE (valid UTF-8: NULs), fast path must not pass it', request(Buffer.from(JSON.stringify({ m: `ssn ${SSN}` }), 'utf16le')),
    ['us_ssn@body:blockx1']],
  ['UTF-16BE with a byte-order mark', request(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`ssn ${SSN}`, 'utf16le').swap16()]), { 'content-type': 'text/plain' }),
    ['us_ssn@body:blockx1']],
  ['UTF-16 spliced into ASCII text', request(Buffer.concat([Buffer.from('hello, the number is '), Buffer.from(SSN, 'utf16le'), Buffer.from(' ok')]), { 'content-type': 'text/plain' }),
    ['us_ssn@body:blockx1']],
  ['multipart quoted-printable part (soft break inside the value)', request(
    '--B\r\nContent-Disposition: form-data; name="note"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nssn 123-45-=\r\n67=389 end\r\n--B--\r\n',
    { 'content-type': 'multipart/form-data; boundary=B' }),
    ['us_ssn@part:note:blockx1']],
];

for (const [name, req, expected] of whereCases) {
  test(`views: ${name}`, () => {
    const r = inspect(req);
    assert.deepEqual(summary(r), expected);
    assertNoPlaintext(r, SSN, CARD, 'bob@example.com');
  });
}

test('view keys: JSON member, array inherits member, form field, header, query name', () => {
  const { det, views } = recording();
  const req = request(JSON.stringify({ Card_Number: 'x', list: ['y'] }), { 'x-api-key': 'z' }, '/p?Email=w');
  createDlpEngine(det, { fastPath: false, groupPrefilter: false }).inspect(req, policy());
  const keyOf = (text: string): string | null | undefined => views.find((v) => v.text === text)?.key;
  assert.equal(keyOf('x'), 'card_number');
  assert.equal(keyOf('y'), 'list');
  assert.equal(keyOf('z'), 'x-api-key');
  assert.equal(keyOf('w'), 'email');
  assert.equal(keyOf('Card_Number'), null); // a key itself is free text
});

test('a JSON number written with a fraction or an exponent is scanned as the integer it stands for too, under its key', () => {
  const cases: Array<[literal: string, views: string[]]> = [
    ['4.556737586899855e15', ['4.556737586899855e15', '4556737586899855']],
    ['536228143.0', ['536228143.0', '536228143']],
    ['-4.556737586899855E+15', ['-4.556737586899855E+15', '-4556737586899855']],
    ['45567375868998550e-1', ['45567375868998550e-1', '4556737586899855']],
    ['536228143.00000000000001', ['536228143.00000000000001', '536228143']], // the fraction rounds away
    ['1E5', ['100000']], // too short a literal to be a view of its own
    ['100000.0', ['100000.0', '100000']],
    ['123456', ['123456']], // a plain integer is its own form
    ['12345.0', ['12345.0']], // an integer form too short to hold anything
    ['-0.0000', ['-0.0000']],
    ['1234567.5', ['1234567.5']],
    ['9007199254740993.0', ['9007199254740993.0']], // past 2^53: JavaScript cannot hold it exactly
    ['1.0e400', ['1.0e400']],
    ['1e400', []],
    ['0.7', []],
  ];
  for (const [literal, expected] of cases) {
    const { det, views } = recording();
    createDlpEngine(det, { fastPath: false, groupPrefilter: false }).inspect(request(`{"m":"x","n":${literal}}`), policy());
    const scanned = views.filter((v) => v.where === 'body.n');
    assert.deepEqual(scanned.map((v) => v.text), expected, literal);
    assert.ok(scanned.every((v) => v.key === 'n'), literal);
  }
});

// Fake detectors: a card 4ddd dddd dddd dddd; real ones for the SSN, undelimited: found by its key.
const numberCases: Array<[name: string, body: string, real: boolean, decision: string, expected: string[], redacted: string | null]> = [
  ['a card in exponent form', '{"card": 4.111111111111111e15, "n": 1.5}', false, 'redact',
    ['credit_card@body.card:redactx1'], '{"card": "************1111", "n": 1.5}'],
  ['negative, upper-case exponent, in an array', '{"cards":[1, -4.111111111111111E+15]}', false, 'redact',
    ['credit_card@body.cards[1]:redactx1'], '{"cards":[1, "-************1111"]}'],
  ['in nested tool-call arguments', '{"arguments":"{\\"card\\":4.111111111111111e15}"}', false, 'redact',
    ['credit_card@body.arguments.card:redactx1'], '{"arguments":"{\\"card\\":\\"************1111\\"}"}'],
  ['a whole body that is one number', '4.111111111111111e15', false, 'redact',
    ['credit_card@body:redactx1'], '"************1111"'],
  // The literal matches too (the fake card needs no digit-run boundary): two redactions of one
  // number cannot both be written into one string.
  ['both readings redacted differently: block', '{"card":4111111111111111.0}', false, 'block',
    ['credit_card@body.card:redactx2'], null],
  ['an SSN in exponent form, under its key', '{"ssn":5.36228143e8}', true, 'redact',
    ['us_ssn@body.ssn:redactx1'], '{"ssn":"[REDACTED:us_ssn]"}'],
  ['an SSN with a zero fraction, under its key', '{"ssn":536228143.0}', true, 'redact',
    ['us_ssn@body.ssn:redactx1'], '{"ssn":"[REDACTED:us_ssn]"}'],
];
for (const [name, body, real, decision, expected, redacted] of numberCases) {
  test(`JSON number read as an integer: ${name}`, () => {
    const r = real ? createDlpEngine(realWithCanary).inspect(request(body), policy({ packs: realWithCanary.packNames })) : inspect(request(body));
    assert.equal(r.decision, decision);
    assert.deepEqual(summary(r), expected);
    assert.equal(r.body?.toString('utf8') ?? null, redacted);
    if (r.body !== null) JSON.parse(r.body.toString('utf8'));
    assertNoPlaintext(r, '4111111111111111', '536228143');
  });
}

test('headers: hop-by-hop, proxy and Connection-listed headers are not scanned; credential headers only for honeytokens', () => {
  const { det, views } = recording();
  const req: InspectRequest = {
    ...request('{}', {
      authorization: `Bearer ${SSN}`, 'proxy-authorization': `Basic ${SSN}`, connection: 'x-hop', 'x-hop': SSN,
      'x-scanned': ['a', 'b'],
    }),
    skipHeaders: ['Authorization'],
  };
  const r = createDlpEngine(det, { fastPath: false, groupPrefilter: false }).inspect(req, policy());
  assert.deepEqual(r.findings, [], 'the SSN in the agent\'s own Authorization is not a finding');
  assert.deepEqual(views.filter((v) => v.where.startsWith('header:')).map((v) => `${v.where}=${v.text}`).sort(),
    [`header:authorization=Bearer ${SSN}`, 'header:content-type=application/json', 'header:x-scanned=a', 'header:x-scanned=b']);
});

test('a honeytoken in a credential header is caught, as written or base64-encoded (a canary credential, used)', () => {
  const cases: [string, string][] = [
    ['as written', `Bearer ${FAKE_HONEYTOKEN}`],
    ['in Basic auth', `Basic ${Buffer.from(`svc:${FAKE_HONEYTOKEN}`).toString('base64')}`],
  ];
  for (const [name, value] of cases) {
    const r = inspect({ ...request('{}', { authorization: value, 'x-api-key': `${SSN} PRIVATEKEYABC` }), skipHeaders: ['authorization', 'x-api-key'] });
    assert.equal(r.decision, 'block', name);
    assert.equal(r.reason, 'honeytoken', name);
    assert.deepEqual(summary(r), ['honeytoken@header:authorization:blockx1'], name);
  }
});

test('header names are scanned (x-<secret>: 1 goes upstream too), and starred out of where', () => {
  const cases: Array<[name: string, headers: Record<string, string>, expected: string[]]> = [
    ['an SSN as a header name (redact becomes block: a name cannot be rewritten)', { [`x.${SSN}`]: '1' },
      ['us_ssn@header-name:blockx1']],
    ['and in its value: the value\'s where is starred', { [`x.${SSN}`]: `ssn ${SSN}` },
      ['us_ssn@header-name:blockx1', 'us_ssn@header:x.*:blockx1']],
    ['percent-encoded in a name', { 'x-bob%40example.com': '1' }, ['email@header-name:blockx1']],
    ['a clean custom name', { 'x-trace-token': 'abc' }, []],
    // `where` keeps 64 characters of a name: the cut would have left `123-4` of the SSN.
    ['in a name longer than where keeps', { [`x.${'a'.repeat(56)}.${SSN}`]: `ssn ${SSN}` },
      ['us_ssn@header-name:blockx1', 'us_ssn@header:*:blockx1']],
  ];
  for (const [name, headers, expected] of cases) {
    const r = inspect(request('{}', headers));
    assert.deepEqual(summary(r), expected, name);
    assertNoPlaintext(r, SSN, 'bob@example.com', 'bob%40example.com', '123-4');
  }
  // Node lower-cases header names: the names as written (rawHeaders) are what a case-sensitive
  // canary is matched in, and the lower-cased name in `header:NAME` is starred all the same.
  const canaryName = `X-${FAKE_HONEYTOKEN}`;
  const req = { ...request('{}', { [canaryName.toLowerCase()]: `ssn ${SSN}` }), rawHeaderNames: ['Content-Type', canaryName] };
  const r = inspect(req);
  assert.equal(r.reason, 'honeytoken');
  assert.deepEqual(summary(r), ['honeytoken@header-name:blockx1', 'us_ssn@header:x-*:blockx1']);
  assertNoPlaintext(r, FAKE_HONEYTOKEN, FAKE_HONEYTOKEN.toLowerCase(), SSN);
  assert.equal(inspect({ ...req, rawHeaderNames: undefined }).reason, 'dlp', 'lower-cased, the canary is not matched (hence rawHeaderNames)');
});

test('well-known header names are not views; every other name is', () => {
  const { det, views } = recording();
  const req = request('{}', { 'user-agent': 'ua', accept: '*/*', 'x-stainless-lang': 'js', 'x-stainless-lang2': 'js', 'x-custom': 'v' });
  createDlpEngine(det, { fastPath: false, groupPrefilter: false }).inspect(req, policy());
  assert.deepEqual(views.filter((v) => v.where === 'header-name').map((v) => v.text).sort(), ['x-custom', 'x-stainless-lang2']);
});

// Red team (HTTP), finding 5: Node gives header values one character per byte (latin1), so
// UTF-8 in a header was scanned as mojibake that NFKC and the digit folding never read.
/** A header value as Node's parser gives it: the UTF-8 bytes of `s`, one character per byte. */
const onTheWire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const FULL_WIDTH_SSN = '１２３-４５-６７８９';

test('utf8Reading: the UTF-8 text of a header value with bytes >= 0x80, else null', () => {
  const cases: Array<[name: string, value: string, expected: string | null]> = [
    ['ASCII only', 'ssn 123-45-6789', null],
    ['full-width digits', onTheWire(FULL_WIDTH_SSN), FULL_WIDTH_SSN],
    ['a zero-width space', onTheWire('CANARY\u200Btok'), 'CANARY\u200Btok'],
    ['latin1 that is not UTF-8 (a lone 0xE9)', 'caf\u00e9', null],
    ['a truncated sequence', onTheWire('ab\u00e9').slice(0, -1), null],
    ['already text (a character above 0xFF)', FULL_WIDTH_SSN, null],
  ];
  for (const [name, value, expected] of cases) assert.equal(utf8Reading(value), expected, name);
});

test('UTF-8 in a header value is read as UTF-8 too: normalised and matched like a body', () => {
  const cases: Array<[name: string, headers: Record<string, string>, skip: string[], expected: string[], reason: string | null]> = [
    ['a full-width SSN (redact becomes block, as in any header)', { 'x-note': onTheWire(`ssn ${FULL_WIDTH_SSN}`) }, [],
      ['us_ssn@header:x-note:blockx1'], 'dlp'],
    ['an SSN in Arabic-Indic digits', { 'x-note': onTheWire('ssn ١٢٣-٤٥-٦٧٨٩') }, [],
      ['us_ssn@header:x-note:blockx1'], 'dlp'],
    ['a honeytoken split by a zero-width space', { 'x-note': onTheWire(`${FAKE_HONEYTOKEN.slice(0, 6)}\u200B${FAKE_HONEYTOKEN.slice(6)}`) }, [],
      ['honeytoken@header:x-note:blockx1'], 'honeytoken'],
    ['a full-width honeytoken', { 'x-note': onTheWire(FAKE_HONEYTOKEN.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xFEE0))) }, [],
      ['honeytoken@header:x-note:blockx1'], 'honeytoken'],
    ['a credential header: a hidden honeytoken is caught', { authorization: onTheWire(`Bearer ${FAKE_HONEYTOKEN.slice(0, 6)}\u200B${FAKE_HONEYTOKEN.slice(6)}`) }, ['authorization'],
      ['honeytoken@header:authorization:blockx1'], 'honeytoken'],
    ['a credential header: anything else is not a finding', { authorization: onTheWire(`Bearer ${FULL_WIDTH_SSN}`) }, ['authorization'],
      [], null],
    ['an ASCII SSN beside an accented word: one occurrence, not one per reading', { 'x-note': onTheWire(`café ${SSN}`) }, [],
      ['us_ssn@header:x-note:blockx1'], 'dlp'],
    ['latin1 that is not UTF-8: read as it is', { 'x-note': `caf\u00e9 ${SSN}` }, [],
      ['us_ssn@header:x-note:blockx1'], 'dlp'],
    ['clean UTF-8', { 'x-note': onTheWire('naïve résumé, 東京') }, [], [], null],
  ];
  for (const [name, headers, skip, expected, reason] of cases) {
    const r = inspect({ ...request('{}', headers), skipHeaders: skip });
    assert.deepEqual(summary(r), expected, name);
    assert.equal(r.reason, reason, name);
    assert.equal(r.decision, reason === null ? 'allow' : 'block', name);
    assertNoPlaintext(r, SSN, FAKE_HONEYTOKEN);
  }
});

test('UTF-8 in a header value, shipped packs: a full-width or Arabic-Indic SSN and a hidden honeytoken block', () => {
  const canary = 'CANARYtok3nXYZ987';
  const det = compileDetectors({ honeytokens: [{ id: 'c1', value: canary, sha256: null }], fingerprintKey: Buffer.from('k') });
  const cases: Array<[name: string, value: string, reason: string]> = [
    ['full-width SSN', 'ssn ５３６-２２-８１４３', 'dlp'],
    ['Arabic-Indic SSN', 'ssn ٥٣٦-٢٢-٨١٤٣', 'dlp'],
    ['full-width honeytoken', 'ＣＡＮＡＲＹｔｏｋ３ｎＸＹＺ９８７', 'honeytoken'],
    ['honeytoken split by U+200B', 'CANARY\u200Btok3nXYZ987', 'honeytoken'],
  ];
  for (const [name, value, reason] of cases) {
    const r = createDlpEngine(det).inspect(request('{}', { 'x-note': onTheWire(value) }), policy({ packs: ['pii', 'secrets'] }));
    assert.equal(r.decision, 'block', name);
    assert.equal(r.reason, reason, name);
    assert.ok(r.findings.every((f) => f.where === 'header:x-note'), name);
    assertNoPlaintext(r, canary, '536-22-8143', value);
  }
});

test('where never carries a matched value that sits in a key path', () => {
  const r = inspect(request(JSON.stringify({ [SSN]: { card: CARD } })));
  assert.deepEqual(summary(r), ['us_ssn@body{key}:redactx1', 'credit_card@body["*"].card:redactx1']);
});

test('where never carries an encoded value either: a key or header name that decodes to a finding is starred whole', () => {
  const b64Key = b64(`canary ${FAKE_HONEYTOKEN} here`);
  const hexKey = Buffer.from(`the canary ${FAKE_HONEYTOKEN} here`).toString('hex');
  const r = inspect(request(JSON.stringify({ [b64Key]: { card: CARD }, [hexKey]: { card: CARD } })));
  assert.deepEqual(summary(r), ['honeytoken@body{key}:blockx2', 'credit_card@body.*.card:redactx1', 'credit_card@body["*"].card:redactx1']);
  assertNoPlaintext(r, b64Key, hexKey, FAKE_HONEYTOKEN);
  // A header name: hex after the usual `x-` prefix is read, and the whole name is starred.
  const h = inspect(request('{}', { [`x-${hexKey}`]: `card ${CARD}` }));
  assert.deepEqual(summary(h), ['honeytoken@header-name:blockx1', 'credit_card@header:*:blockx1']);
  assertNoPlaintext(h, hexKey, FAKE_HONEYTOKEN);
});

// ─── multipart ──────────────────────────────────────────────────────────────────────────────

function multipart(parts: string[], boundary = 'b0undary'): InspectRequest {
  const body = parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`;
  return request(body, { 'content-type': `multipart/form-data; boundary="${boundary}"` });
}

test('multipart: part names, file names, base64 parts, JSON parts', () => {
  const r = inspect(multipart([
    `Content-Disposition: form-data; name="purpose"\r\n\r\nssn ${SSN}`,
    `Content-Disposition: form-data; name="file"; filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\ncard ${CARD}`,
    `Content-Disposition: form-data; name="enc"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`mail bob@example.com`)}`,
    `Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"owner":{"ssn":"${SSN}"}}`,
  ]));
  assert.deepEqual(summary(r), [
    'us_ssn@part:purpose:redactx1',
    'credit_card@part:file(notes.txt):redactx1',
    'email@part:enc:redactx1',
    'us_ssn@part:meta.owner.ssn:redactx1',
  ]);
});

test('multipart: an archive part is found by magic bytes whatever its name says', () => {
  const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(40)]);
  const r = inspect(multipart([
    `Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n${zip.toString('base64')}`,
  ]));
  assert.equal(r.decision, 'block');
  assert.equal(r.reason, 'dlp');
  assert.deepEqual(r.archives, ['zip']);
  assert.deepEqual(summary(r), ['archive@part:file(photo.jpg):blockx1']);
  assert.equal(r.findings[0]?.sample, 'zip');
});

test('multipart: file names are scanned (and never leak into where)', () => {
  const r = inspect(multipart([`Content-Disposition: form-data; name="f"; filename="${SSN}.csv"\r\n\r\nx`]));
  assert.deepEqual(summary(r), ['us_ssn@part:f(*.csv):blockx1']);
  // A file name longer than `where` keeps, cut inside the SSN: its whole label is starred.
  const long = inspect(multipart([`Content-Disposition: form-data; name="f"; filename="${'a'.repeat(57)} ${SSN}.csv"\r\n\r\nx`]));
  assert.deepEqual(summary(long), ['us_ssn@part:f(*):blockx1']);
  assertNoPlaintext(long, '123-4');
});

// A part declaring Content-Transfer-Encoding is read as sent and decoded: servers that ignore the
// header (busboy, PHP) keep the text as sent. Real detectors: AWS key ids and a configured canary.
const CTE_CARD = '4556 7375 8689 9855';
const b64Lines = (s: string | Buffer): string => b64(s).match(/.{1,76}/g)?.join('\r\n') ?? '';
const cteCases: Array<[name: string, cte: string, content: string, decision: string, expected: string[]]> = [
  ['a card in the base64 alphabet, as sent', 'base64', CTE_CARD, 'block', ['credit_card@part:p:blockx1']],
  ['an AWS key id, as sent', 'base64', 'AKIA7ZNGSOKPXYIZFMSR', 'block', ['aws_access_key_id@part:p:blockx1']],
  ['an SSN with spaces, as sent', 'base64', '536 22 8143', 'block', ['us_ssn@part:p:blockx1']],
  ['a configured honeytoken, as sent', 'base64', CTE_CANARY, 'block', ['honeytoken@part:p:blockx1']],
  ['base64 of a card after a piece that shifts the decoding', 'base64', `x ${b64(`the card is ${CTE_CARD} ok`)}`, 'block', ['credit_card@part:p:blockx1']],
  ['base64 of a card after `=` padding (decoding stops there)', 'base64', `QQ==\r\n${b64(`the card is ${CTE_CARD} ok`)}`, 'block', ['credit_card@part:p:blockx1']],
  ['hex of a card in the base64 alphabet', 'base64', Buffer.from(`the card is ${CTE_CARD}`).toString('hex'), 'block', ['credit_card@part:p:blockx1']],
  ['a card after `=45` under quoted-printable', 'quoted-printable', 'card=4556737586899855', 'block', ['credit_card@part:p:blockx1']],
  ['a card both quoted-printable readings show, counted once', 'quoted-printable', `card ${CTE_CARD}`, 'block', ['credit_card@part:p:blockx1']],
  // `=fa` decodes: only the part as sent shows the hotword, so only that reading redacts (blocks).
  ['a phone both readings show, judged by the reading that sees its hotword', 'quoted-printable', '=fax (212) 555-0187', 'block', ['phone@part:p:logx1', 'phone@part:p:blockx1']],
  ['a card encoded in base64: found once, in the decoded reading, redacted', 'base64', b64(`card ${CTE_CARD}`), 'redact', ['credit_card@part:p:redactx1']],
  ['the same, wrapped at 76', 'base64', b64Lines(`notes for the order, with the card ${CTE_CARD} to charge, and more text to wrap the lines`), 'redact', ['credit_card@part:p:redactx1']],
  // ~430 lines: read again line by line as base64 runs, they would be over MAX_BASE64_VIEWS (256).
  ['a clean base64 file of some 430 lines', 'base64', b64Lines(cleanChatBody(24 * 1024)), 'allow', []],
];
for (const [name, cte, content, decision, expected] of cteCases) {
  test(`multipart Content-Transfer-Encoding ${cte}: ${name}`, () => {
    const r = createDlpEngine(realWithCanary).inspect(
      multipart([`Content-Disposition: form-data; name="p"\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${content}`]),
      policy({ packs: realWithCanary.packNames }));
    assert.equal(r.decision, decision, r.uninspectableDetail ?? '');
    assert.deepEqual(summary(r), expected);
    assertNoPlaintext(r, CTE_CARD, '4556737586899855', 'AKIA7ZNGSOKPXYIZFMSR', '536 22 8143', CTE_CANARY);
    if (decision === 'redact') {
      // Re-encoded whole from the redacted decoded reading: the card is in neither reading.
      const sent = /base64\r\n\r\n([^]*)\r\n--b0undary--/.exec(r.body?.toString('latin1') ?? '')?.[1] ?? '';
      assert.ok(/^[A-Za-z0-9+/=\r\n]+$/.test(sent), 'still base64');
      assert.match(Buffer.from(sent, 'base64').toString('utf8'), /card \*{4} \*{4} \*{4} 9855/);
    }
  });
}

test('multipart: malformed framing is uninspectable', () => {
  const r = inspect(request('--b\r\nno end', { 'content-type': 'multipart/form-data; boundary=b' }));
  assert.equal(r.decision, 'block');
  assert.equal(r.reason, 'uninspectable');
  assert.match(r.uninspectableDetail ?? '', /^malformed multipart body/);
});

// ─── archives and transport compression ────────────────────────────────────────────────────

const archiveCases: Array<[name: string, req: InspectRequest, pol: Partial<CompiledDlpPolicy>, decision: string, archives: string[]]> = [
  ['zip upload as octet-stream', request(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(30)]), { 'content-type': 'application/octet-stream' }), {}, 'block', ['zip']],
  ['tar upload (magic at 257)', request((() => { const t = Buffer.alloc(1024); t.write('ustar\x0000', 257, 'latin1'); return t; })(), { 'content-type': 'application/x-tar' }), {}, 'block', ['tar']],
  // 512 bytes: the tar magic ends at byte 265, past the 264 bytes the base64 probe once decoded.
  ['tar file inside a JSON string as base64', request(JSON.stringify({ file: (() => { const t = Buffer.alloc(512); t.write('notes.txt', 0, 'latin1'); t.write('ustar\x0000', 257, 'latin1'); return t; })().toString('base64') })), {}, 'block', ['tar']],
  ['gzip file inside a JSON string as base64', request(JSON.stringify({ file: zlib.gzipSync(Buffer.from('x'.repeat(100))).toString('base64') })), {}, 'block', ['gzip']],
  ['archive with policy log', request(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(30)]), { 'content-type': 'application/zip' }), { actions: { archive: 'log' } }, 'allow', ['zip']],
  ['archive with policy redact still blocks', request(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(30)]), { 'content-type': 'application/zip' }), { actions: { archive: 'redact' } }, 'block', ['zip']],
  ['archives pack off', request(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(30)]), { 'content-type': 'application/zip' }), { packs: ['pii', 'secrets'] }, 'allow', []],
  ['Content-Encoding gzip is not an archive', request(zlib.gzipSync(Buffer.from('{"a":"b"}')), { 'content-encoding': 'gzip' }), {}, 'allow', []],
];
for (const [name, req, pol, decision, archives] of archiveCases) {
  test(`archives: ${name}`, () => {
    const r = inspect(req, pol);
    assert.equal(r.decision, decision);
    assert.deepEqual(r.archives, archives);
  });
}

// ─── actions and the decision ──────────────────────────────────────────────────────────────

const actionCases: Array<[name: string, content: string, pol: Partial<CompiledDlpPolicy>, decision: string, reason: string | null, actions: string[]]> = [
  ['PII redacts by default', `ssn ${SSN}`, {}, 'redact', null, ['redact']],
  ['policy action per type', `ssn ${SSN}`, { actions: { us_ssn: 'block' } }, 'block', 'dlp', ['block']],
  ['policy default over the match default', `ssn ${SSN}`, { defaultAction: 'log' }, 'allow', null, ['log']],
  ['type action beats policy default', `ssn ${SSN}`, { defaultAction: 'log', actions: { us_ssn: 'redact' } }, 'redact', null, ['redact']],
  ['low confidence logs', 'call maybe-1234', { defaultAction: 'redact' }, 'allow', null, ['log']],
  ['low confidence follows an explicit type action', 'call maybe-1234', { actions: { phone: 'redact' } }, 'redact', null, ['redact']],
  ['secret blocks', 'key PRIVATEKEYABC', {}, 'block', 'dlp', ['block']],
  ['strongest wins: block over redact', `ssn ${SSN} key PRIVATEKEYABC`, {}, 'block', 'dlp', ['redact', 'block']],
  ['honeytoken always blocks', `x ${FAKE_HONEYTOKEN}`, { actions: { honeytoken: 'log' }, defaultAction: 'log' }, 'block', 'honeytoken', ['block']],
  ['honeytoken reason wins over dlp', `${FAKE_HONEYTOKEN} PRIVATEKEYX`, {}, 'block', 'honeytoken', ['block', 'block']],
  ['packs filter', 'key PRIVATEKEYABC', { packs: ['pii'] }, 'allow', null, []],
  ['bulk: distinct PII at the threshold blocks', '111-22-3333 222-33-4444 333-44-5555', { bulkPiiThreshold: 3 }, 'block', 'dlp', ['redact', 'redact', 'redact']],
  ['bulk: below the threshold redacts', '111-22-3333 222-33-4444', { bulkPiiThreshold: 3 }, 'redact', null, ['redact', 'redact']],
  ['bulk counts distinct values, not occurrences', `${SSN} ${SSN} ${SSN} ${SSN}`, { bulkPiiThreshold: 3 }, 'redact', null, ['redact']],
];
for (const [name, content, pol, decision, reason, actions] of actionCases) {
  test(`actions: ${name}`, () => {
    const r = inspect(request(JSON.stringify({ content })), pol);
    assert.equal(r.decision, decision);
    assert.equal(r.reason, reason);
    assert.deepEqual(r.findings.map((f) => f.action), actions);
    if (content.includes(FAKE_HONEYTOKEN)) assert.deepEqual(r.honeytokenIds, ['h1']);
  });
}

test('actionFor: archive defaults to block and cannot be redacted', () => {
  const m: Match = { type: 'archive', patternId: 'archives.x', pack: 'archives', start: 0, end: 4, value: 'UEsD', confidence: 'high', defaultAction: 'block' };
  assert.equal(actionFor(m, policy({ defaultAction: 'log' })), 'block');
  assert.equal(actionFor(m, policy({ actions: { archive: 'redact' } })), 'block');
  assert.equal(actionFor(m, policy({ actions: { archive: 'log' } })), 'log');
});

// ─── findings ──────────────────────────────────────────────────────────────────────────────

test('findings: one per distinct value with counts, masked samples and fingerprints', () => {
  const det = fakeDetectors();
  const r = inspect(request(JSON.stringify({ a: `${SSN} and ${SSN}`, b: '987-65-4321' })), {}, det);
  assert.deepEqual(r.findings, [
    { type: 'us_ssn', count: 2, action: 'redact', where: 'body.a', sample: '***-**-6789', fp: det.fingerprint(SSN) },
    { type: 'us_ssn', count: 1, action: 'redact', where: 'body.b', sample: '***-**-4321', fp: det.fingerprint('987-65-4321') },
  ]);
});

test('findings: a bulk export collapses to one finding per (type, where, action)', () => {
  const ssns = Array.from({ length: 100 }, (_, i) => `${100 + i}-22-3333`);
  const r = inspect(request(JSON.stringify({ rows: ssns.join(' ') })));
  assert.deepEqual(summary(r), ['us_ssn@body.rows:redactx100']);
  assertNoPlaintext(r, ...ssns);
});

// ─── uninspectable and failure modes ──────────────────────────────────────────────────────

const nest = (depth: number): string => {
  let v: unknown = SSN;
  for (let i = 0; i < depth; i++) v = JSON.stringify({ n: v });
  return JSON.stringify({ top: v });
};
const uninspectableCases: Array<[name: string, req: InspectRequest, pol: Partial<CompiledDlpPolicy>, detail: RegExp]> = [
  ['unknown content-encoding', request(Buffer.from('xx'), { 'content-encoding': 'zstd' }), {}, /^unknown content-encoding: zstd$/],
  ['corrupt gzip', request(Buffer.from('not gzip'), { 'content-encoding': 'gzip' }), {}, /^corrupt gzip body$/],
  ['decompression bomb', request(zlib.gzipSync(Buffer.alloc(4 * 1024 * 1024)), { 'content-encoding': 'gzip' }), { maxInspectBytes: 1024 * 1024 }, /^decompressed body exceeds 1048576 bytes$/],
  ['body over the inspection cap', request(Buffer.alloc(2048, 0x61), { 'content-type': 'text/plain' }), { maxInspectBytes: 1024 }, /^body exceeds the inspection cap of 1024 bytes$/],
  ['JSON strings nested too deep', request(nest(6)), {}, /nested deeper than 4/],
  ['base64 nested too deep', request(JSON.stringify({ b: [1, 2, 3, 4, 5].reduce((s) => b64(`wrapped: ${s} end of text`), `ssn ${SSN} text`) })), {}, /nested deeper than 4/],
  ['unknown declared charset', request(Buffer.from('hello'), { 'content-type': 'text/plain; charset=x-made-up' }), {}, /^unsupported charset "x-made-up"$/],
  ['a charset outside label syntax: not quoted', request(Buffer.from('hello'), { 'content-type': 'text/plain; charset="a b"' }), {}, /^unsupported charset$/],
  ['too many base64 candidates', request(JSON.stringify({ b: Array.from({ length: 300 }, (_, i) => b64(`candidate number ${i} with some text`)) })), {}, /^more than 256 base64 candidates$/],
];
test('uninspectable: an agent-chosen charset in which a detector finds something is not quoted in the detail (it is recorded)', () => {
  const r = inspect(request(Buffer.from('hello'), { 'content-type': `text/plain; charset=${SSN}` }));
  assert.equal(r.decision, 'block');
  assert.equal(r.uninspectableDetail, 'unsupported charset');
  assert.deepEqual(summary(r), ['us_ssn@header:content-type:blockx1']);
});

for (const [name, req, pol, detail] of uninspectableCases) {
  test(`uninspectable (block): ${name}`, () => {
    const r = inspect(req, pol);
    assert.equal(r.decision, 'block');
    assert.equal(r.reason, 'uninspectable');
    assert.match(r.uninspectableDetail ?? '', detail);
  });
  test(`uninspectable (allow): ${name}`, () => {
    const r = inspect(req, { ...pol, uninspectable: 'allow' });
    assert.equal(r.reason, 'uninspectable');
    assert.match(r.uninspectableDetail ?? '', detail);
    assert.notEqual(r.decision, 'redact'); // nothing in a half-decoded body can be rewritten
  });
}

test('random binary bodies (images, compressed data) raise no findings', () => {
  // Real detectors: their email / IP patterns are what short printable runs of noise matched.
  const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const engine = createDlpEngine(detectors);
  const pol = policy({ packs: detectors.packNames });
  let x = 0x9E3779B9;
  const next = (): number => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x & 0xFF;
  };
  for (let i = 0; i < 16; i++) {
    const body = Buffer.alloc(1024 * 1024);
    for (let k = 0; k < body.length; k++) body[k] = next();
    const r = engine.inspect(request(body, { 'content-type': 'application/octet-stream' }), pol);
    assert.deepEqual(summary(r), [], `random body ${i}`);
  }
});

test('four levels of nesting are fine', () => {
  assert.deepEqual(summary(inspect(request(nest(3)))), ['us_ssn@body.top.n.n.n:redactx1']);
});

test('uninspectable body with allow still blocks a honeytoken in a header', () => {
  const r = inspect(request(Buffer.from('xx'), { 'content-encoding': 'zstd', 'x-c': FAKE_HONEYTOKEN }), { uninspectable: 'allow' });
  assert.equal(r.decision, 'block');
  assert.equal(r.reason, 'honeytoken');
  assert.equal(r.uninspectableDetail, 'unknown content-encoding: zstd');
});

test('the decode budget is enforced', () => {
  const b = new ViewBuilder(fakeDetectors(), 100, true);
  assert.throws(() => b.addBody(Buffer.from(JSON.stringify({ t: b64('x'.repeat(200)) })), null, 'body', null, 0),
    (e: unknown) => e instanceof Error && /decode budget of 100 bytes/.test(e.message));
});

test('an exception inside inspection fails closed without data', () => {
  const det: Detectors = { ...fakeDetectors(), scan: () => { throw new Error(`boom ${SSN}`); } };
  const r = inspect(request(JSON.stringify({ a: SSN })), {}, det);
  assert.deepEqual([r.decision, r.reason, r.uninspectableDetail], ['block', 'uninspectable', 'internal inspection error']);
  const allowed = inspect(request(JSON.stringify({ a: SSN })), { uninspectable: 'allow' }, det);
  assert.deepEqual([allowed.decision, allowed.reason], ['allow', 'uninspectable']);
});

test('an empty body and a clean body allow with no findings', () => {
  for (const body of ['', '{"model":"x","messages":[]}']) {
    const r = inspect(request(body));
    assert.deepEqual([r.decision, r.reason, r.findings.length, r.body, r.url], ['allow', null, 0, null, null]);
  }
});

test('digits of other scripts are read as digits (real detectors): found and redacted where they were written', () => {
  const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const pol = { packs: real.packNames };
  const cases: Array<[name: string, text: string]> = [
    ['Arabic-Indic', 'my ssn is \u0665\u0663\u0666-\u0662\u0662-\u0668\u0661\u0664\u0663 thanks'],
    ['Persian', 'my ssn is \u06F5\u06F3\u06F6-\u06F2\u06F2-\u06F8\u06F1\u06F4\u06F3 thanks'],
    ['Devanagari', 'my ssn is \u096B\u0969\u096C-\u0968\u0968-\u096E\u0967\u096A\u0969 thanks'],
  ];
  for (const [name, text] of cases) {
    for (const req of [request(JSON.stringify({ messages: [{ role: 'user', content: text }] })), request(text, { 'content-type': 'text/plain' })]) {
      const r = inspect(req, pol, real);
      assert.equal(r.decision, 'redact', name);
      assert.deepEqual(r.findings.map((f) => f.type), ['us_ssn'], name);
      const out = r.body?.toString('utf8') ?? '';
      assert.ok(out.includes('my ssn is [REDACTED:us_ssn] thanks'), `${name}: ${out}`);
    }
  }
});

/**
 * The fast path and the group prefilter must never change a decision: property-style checks
 * over many bodies, comparing the default engine with the engine that builds and scans every
 * view. With the fake detectors (every perturbation class) and with the real detectors over the
 * public corpus embedded in chat bodies.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { Detectors, InspectRequest, InspectResult } from '../../../proxy/dlp/types.js';
import { ROOT } from '../../../proxy/paths.js';
import { cleanChatBody, FAKE_HONEYTOKEN, fakeDetectors, policy, prng, request } from './inspect-helpers.js';

type Chat = { messages: Array<Record<string, unknown>> };

/** Each perturbation edits a parsed chat body or its serialised text. */
const perturbations: Array<[name: string, edit: (text: string, rand: () => number) => string, clean: boolean]> = [
  ['clean', (t) => t, true],
  ['clean with non-ASCII prose (emoji, CJK, curly quotes)', (t) => plant(t, 'naïve café “quoted” 東京 😀 ok'), true],
  ['clean with Windows paths (backslashes)', (t) => plant(t, 'C:\\Users\\dev\\project\\src'), true],
  ['clean with an 80% discount', (t) => plant(t, 'an 80% discount'), true],
  ['SSN', (t) => plant(t, 'ssn 123-45-6789'), false],
  ['SSN with Unicode dashes', (t) => plant(t, 'ssn 123\u201045\u20136789'), false],
  ['SSN in fullwidth digits', (t) => plant(t, 'ssn \uFF11\uFF12\uFF13-\uFF14\uFF15-\uFF16\uFF17\uFF18\uFF19'), false],
  ['SSN in Arabic-Indic digits', (t) => plant(t, 'ssn \u0661\u0662\u0663-\u0664\u0665-\u0666\u0667\u0668\u0669'), false],
  ['card with zero-width spaces', (t) => plant(t, 'card 4111\u200B1111\u200B1111\u200B1111'), false],
  ['email percent-encoded', (t) => plant(t, 'https://x.test/?e=bob%40example.com'), false],
  ['email as a JSON \\u escape', (t) => plant(t, 'mail bob@example.com').replace('bob@example.com', 'bob\\u0040example.com'), false],
  ['SSN split by a JSON escape', (t) => plant(t, 'ssn 123-45-6789').replace('123-45-6789', '123\\u002d45-6789'), false],
  ['SSN after an escaped newline', (t) => plant(t, 'line\n123-45-6789'), false],
  ['SSN in base64', (t) => plant(t, Buffer.from('the customer ssn is 123-45-6789 ok').toString('base64')), false],
  ['SSN in URL-safe base64 after a newline', (t) => plant(t, '\n' + Buffer.from('ssn 123-45-6789 for the file').toString('base64url')), false],
  ['SSN in hex', (t) => plant(t, Buffer.from('the customer ssn is 123-45-6789 ok').toString('hex')), false],
  ['SSN in upper-case hex', (t) => plant(t, Buffer.from('the ssn is 123-45-6789').toString('hex').toUpperCase()), false],
  ['clean with hex digests', (t) => plant(t, 'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 and git 3f2b8c1e9d4a4e6b8a7c1b2c3d4e5f6011223344'), true],
  ['honeytoken', (t) => plant(t, `token ${FAKE_HONEYTOKEN}`), false],
  ['private key', (t) => plant(t, 'PRIVATEKEYAAAA'), false],
  ['low-confidence only', (t) => plant(t, 'call maybe-1234'), false],
  ['zip in base64', (t) => plant(t, Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(40, 1)]).toString('base64')), false],
  ['SSN as an object key', (t) => t.replace('"role"', '"123-45-6789"'), false],
  ['SSN in nested tool-call arguments', (t) => {
    const o = JSON.parse(t) as Chat;
    o.messages.push({ role: 'assistant', tool_calls: [{ function: { arguments: JSON.stringify({ q: 'ssn 123-45-6789', e: 'a\nb "c"' }) } }] });
    return JSON.stringify(o);
  }, false],
  // Nested JSON decoded level by level: the fast path decodes again only the leaves holding an
  // escaped backslash, so each of these hides the value one or two levels down.
  ['SSN after an escaped newline inside tool-call arguments (level 2)', (t) => addToolCall(t, JSON.stringify({ q: 'line\n123-45-6789' })), false],
  ['SSN after an escaped newline two JSON levels down (level 3)', (t) => addToolCall(t, JSON.stringify({ inner: JSON.stringify({ q: 'x\n123-45-6789' }) })), false],
  ['SSN split by a \\u escape inside nested JSON', (t) => addToolCall(t, '{"q":"ssn 123\\u002d45-6789"}'), false],
  ['nested JSON whose backslash is spelled \\u005c', (t) => t.replace(/}$/, ',"args":"{\\"q\\":\\"x\\u005cn123-45-6789\\"}"}'), false],
  ['nested JSON after escaped whitespace, SSN after an escaped backslash in it', (t) => addToolCall(t, '\n\t ' + JSON.stringify({ p: 'C:\\tmp', q: 'x\n123-45-6789' })), false],
  ['nested JSON whose brace is spelled \\u007b, SSN after an escaped backslash in it', (t) => t.replace(/}$/, ',"args":"\\u007b\\"p\\":\\"C:\\\\\\\\tmp\\",\\"q\\":\\"x\\\\n123-45-6789\\"}"}'), false],
  ['nested value ending in a backslash, SSN after it', (t) => addToolCall(t, JSON.stringify({ a: 'dir\\', b: 'y\n123-45-6789' })), false],
  ['clean nested JSON with Windows paths and newlines', (t) => addToolCall(t, JSON.stringify({ path: 'C:\\Users\\dev\\src', note: 'first\nsecond "quoted"' })), true],
  ['clean code with \\n in a string literal', (t) => plant(t, 'print("a\\nb")  # C:\\temp'), true],
  ['SSN as a JSON number', (t) => t.replace('"temperature":0.2', '"temperature":123456789,"card":4111111111111111'), false],
  // Read upstream as the integer it stands for, which the text does not hold as written.
  ['card as a JSON number in exponent form', (t) => t.replace('"temperature":0.2', '"temperature":0.2,"card":4.111111111111111e15'), false],
  ['card as a negative JSON number with an upper-case exponent, in an array', (t) => t.replace('"temperature":0.2', '"temperature":0.2,"n":[1,-4.111111111111111E+15]'), false],
  ['card as a JSON number with a zero fraction', (t) => t.replace('"temperature":0.2', '"temperature":0.2,"card":4111111111111111.0'), false],
  ['card as a JSON number in exponent form in nested tool-call arguments', (t) => addToolCall(t, '{"card":4.111111111111111e15}'), false],
  // Short base64 runs (decode-base64.ts MIN_SHORT_BASE64_RUN): padded anywhere, unpadded as a whole JSON string.
  ['SSN in short padded base64', (t) => plant(t, `data: ssn: ${Buffer.from('123-45-6789').toString('base64')}`), false],
  ['SSN in short unpadded base64, a whole JSON string', (t) => t.replace('"temperature":0.2', `"temperature":0.2,"x":"${Buffer.from('123-45-6789').toString('base64').replace(/=+$/, '')}"`), false],
  ['SSN in short unpadded base64 in nested tool-call arguments', (t) => addToolCall(t, JSON.stringify({ s: Buffer.from('123-45-6789').toString('base64url') })), false],
  // Control characters inside a value: views drop them, the fast path steps aside.
  ['SSN split by a \\u0000 escape', (t) => plant(t, 'ssn 123-45\u0000-6789'), false],
  ['SSN split by ESC', (t) => plant(t, 'ssn 123-45\u001b-6789'), false],
  // Base32 (decode-base32.ts): `the customer ssn is 123-45-6789 ok` in RFC 4648 base32.
  ['SSN in base32', (t) => plant(t, 'ORUGKIDDOVZXI33NMVZCA43TNYQGS4ZAGEZDGLJUGUWTMNZYHEQG62Y='), false],
  ['clean with upper-case base32-alphabet names', (t) => plant(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567 PFNGLCOMPRESSEDTEXSUBIMAGE2DPROC'), true],
  ['clean with short words before = and ==, and identifiers', (t) => plant(t, 'if (userName== null) x = fileType; Password1 camelCaseName deadbeefcafe0123 k=v'), true],
  ['clean with JSON numbers in other forms (1.0, 0.7, 1024, -3.5, 2023.10 in prose)', (t) => plant(t, 'in 2023.10 it cost 1234.5').replace('"temperature":0.2', '"temperature":0.7,"top_p":1.0,"max_tokens":1024,"bias":-3.5'), true],
];

function addToolCall(text: string, args: string): string {
  const o = JSON.parse(text) as Chat;
  o.messages.push({ role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: args } }] });
  return JSON.stringify(o);
}

function plant(text: string, s: string): string {
  const o = JSON.parse(text) as Chat;
  const i = Math.min(2, o.messages.length - 1);
  const m = o.messages[i] as { content?: unknown };
  m.content = typeof m.content === 'string' ? `${m.content.slice(0, 50)} ${s} ${m.content.slice(50)}` : s;
  return JSON.stringify(o);
}

function comparable(r: InspectResult): unknown {
  return { ...r, body: r.body?.toString('base64') ?? null };
}

const contentTypes = ['application/json', 'text/plain', 'application/vnd.api+json'];

test('fast path and group prefilter never change a result (fake detectors, every perturbation)', () => {
  for (let seed = 1; seed <= 3; seed++) {
    const base = cleanChatBody(24 * 1024, seed).toString('utf8');
    const rand = prng(seed);
    for (const [name, edit, clean] of perturbations) {
      const text = edit(base, rand);
      for (const ct of contentTypes) {
        for (const gz of [false, true]) {
          const body = gz ? zlib.gzipSync(Buffer.from(text)) : Buffer.from(text);
          const req = request(body, { 'content-type': ct, ...(gz ? { 'content-encoding': 'gzip' } : {}) });
          const fastOnly = fakeDetectors();
          const a = createDlpEngine(fakeDetectors()).inspect(req, policy());
          const b = createDlpEngine(fakeDetectors(), { fastPath: false, groupPrefilter: false }).inspect(req, policy());
          const c = createDlpEngine(fakeDetectors(), { fastPath: false }).inspect(req, policy());
          const d = createDlpEngine(fastOnly, { groupPrefilter: false }).inspect(req, policy());
          const label = `${name} / seed ${seed} / ${ct}${gz ? ' / gzip' : ''}`;
          assert.deepEqual(comparable(a), comparable(b), label);
          assert.deepEqual(comparable(c), comparable(b), label);
          assert.deepEqual(comparable(d), comparable(b), label);
          assert.equal(a.decision === 'allow' && a.findings.length === 0, clean, `${label}: expected clean=${clean}`);
          // On a clean body the fast path must actually skip the body: only the path and the
          // header views are scanned.
          if (clean) assert.equal(fastOnly.calls, gz ? 3 : 2, `${label}: fast path did not fire`);
        }
      }
    }
  }
});

const corpusFile = join(ROOT, '..', 'shared', 'corpus', 'dlp-public.jsonl');

test('fast path and group prefilter never change a result (real detectors, public corpus in chat bodies)', { skip: !existsSync(corpusFile) && 'corpus not present' }, () => {
  const detectors: Detectors = compileDetectors({
    honeytokens: [{ id: 'c1', value: 'AKIAWARDENCANARY7Q2X', sha256: null }],
    fingerprintKey: Buffer.from('k'),
  });
  const pol = policy({ packs: detectors.packNames, bulkPiiThreshold: 10 });
  const fast = createDlpEngine(detectors);
  const full = createDlpEngine(detectors, { fastPath: false, groupPrefilter: false });
  const rows = readFileSync(corpusFile, 'utf8').split('\n').filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { id: string; text: string; bytes_encoding?: string });
  let withFindings = 0;
  for (const row of rows) {
    if (row.bytes_encoding === 'latin1') continue;
    const bodies: InspectRequest[] = [
      request(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `context before. ${row.text} after.` }] })),
      request(JSON.stringify({ messages: [{ role: 'assistant', tool_calls: [{ function: { arguments: JSON.stringify({ input: row.text }) } }] }] })),
      request(row.text, { 'content-type': 'text/plain' }),
    ];
    for (const req of bodies) {
      const a = fast.inspect(req, pol);
      const b = full.inspect(req, pol);
      assert.deepEqual(comparable(a), comparable(b), row.id);
      if (a.findings.length > 0) withFindings++;
    }
  }
  assert.ok(withFindings > 500, `only ${withFindings} bodies had findings: the check would be vacuous`);
});

test('code with `::` (Rust, C++, PHP paths) takes the fast path with the real detectors', () => {
  const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  // The fast path is one set pass over the body; the full path runs one per ~16 KiB group of
  // views, so the number of mightMatch calls tells which path a body took.
  let passes = 0;
  const counting: Detectors = { ...real, mightMatch: (raw, packs) => { passes++; return real.mightMatch(raw, packs); } };
  const pol = policy({ packs: real.packNames });
  const base = cleanChatBody(24 * 1024, 7).toString('utf8');
  const inspectWith = (snippet: string): InspectResult => {
    const o = JSON.parse(base) as Chat;
    o.messages.push({ role: 'user', content: `fix this:\n${snippet}\nplease` });
    passes = 0;
    return createDlpEngine(counting).inspect(request(JSON.stringify(o)), pol);
  };
  inspectWith('let x = 1;');
  const fastPasses = passes;
  inspectWith('ssn 123-45-6789');
  assert.ok(passes > fastPasses, `a body with a finding must take the full path (${passes} passes vs ${fastPasses})`);
  const code = [
    'use std::io::Read;', 'let v = Vec3::new(1.0, 2.0); let m = u8::MAX; let e = f64::EPSILON;',
    'impl Add::add for Point', 'std::vector<int> v; std::cout << v.size();', 'crate::db::models::User', '$x = Foo::bar(); ace::face',
  ];
  for (const snippet of code) {
    const r = inspectWith(snippet);
    assert.equal(r.decision, 'allow', snippet);
    assert.deepEqual(r.findings, [], snippet);
    assert.equal(passes, fastPasses, `${snippet}: the fast path stepped aside`);
  }
  // Real addresses still make the fast path step aside and are found.
  for (const ip of ['2a00:1450:4001:81c::200e', 'fe80::1', '::ffff:192.0.2.7']) {
    const r = inspectWith(`the peer at ${ip} timed out`);
    assert.deepEqual(r.findings.map((f) => f.type), ['ip_address'], ip);
  }
});

test('JSON with no whitespace takes the fast path when clean, and key patterns still fire in it (real detectors)', () => {
  // Key patterns are anchored at their view's ends (`^…(\S{6,})…$` reads an Authorization
  // value), so their set sources matched a whole body with no whitespace in it: every minified
  // array of records took the full path, ~170 ms per MiB of small objects.
  const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  let passes = 0;
  const counting: Detectors = { ...real, mightMatch: (raw, packs) => { passes++; return real.mightMatch(raw, packs); } };
  const pol = policy({ packs: real.packNames });
  const engine = createDlpEngine(counting);
  const full = createDlpEngine(real, { fastPath: false, groupPrefilter: false });
  const records = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: `r${i}`, n: i, ok: i % 2 === 0 })));
  const upsert = JSON.stringify({ vectors: Array.from({ length: 50 }, (_, i) => ({ id: `doc-${i}`, values: Array.from({ length: 32 }, (_, j) => ((i * 31 + j) % 997) / 997) })) });
  // The request's headers and URL cost the same passes whatever the body.
  engine.inspect(request('{"model": "m", "input": "hello there"}'), pol);
  const fastPasses = passes;
  for (const [name, body] of [['records', records], ['vector upsert', upsert], ['tiny', '{"model":"m","input":"hello"}']] as const) {
    passes = 0;
    const r = engine.inspect(request(body), pol);
    assert.deepEqual(r.findings, [], name);
    assert.equal(passes, fastPasses, `${name}: the fast path stepped aside (${passes} passes)`);
  }
  const secret = 'q8Zr2LmT7vXw4KpN9bYc';
  const cases: Array<[body: string, type: string]> = [
    [`{"authorization":"Bearer\t${secret}"}`, 'http_auth_credential'],
    [`[{"id":"r1"},{"password":"${secret}"}]`, 'generic_secret'],
    ['{"rows":[{"ssn":"536228143"}]}', 'us_ssn'],
    ['{"dob":"1984-07-02","id":"x"}', 'date_of_birth'],
    [records.replace('"r7"', `"r7","client_secret":"${secret}"`), 'generic_secret'],
  ];
  for (const [body, type] of cases) {
    const fast = engine.inspect(request(body), pol);
    assert.deepEqual(comparable(fast), comparable(full.inspect(request(body), pol)), body.slice(0, 60));
    assert.ok(fast.findings.some((f) => f.type === type), `${type} in ${body.slice(0, 60)}`);
  }
});

test('a JSON number that stands for an integer leaves the fast path; numbers as chat bodies hold them keep it (real detectors)', () => {
  const real = compileDetectors({ honeytokens: [{ id: 'c1', value: '100000', sha256: null }], fingerprintKey: Buffer.from('k') });
  let passes = 0;
  const counting: Detectors = { ...real, mightMatch: (raw, packs) => { passes++; return real.mightMatch(raw, packs); } };
  const pol = policy({ packs: real.packNames });
  const full = createDlpEngine(real, { fastPath: false, groupPrefilter: false });
  const base = cleanChatBody(24 * 1024, 7).toString('utf8');
  const inspectWith = (members: string): [InspectResult, InspectResult] => {
    const body = request(base.replace(/}$/, `,${members}}`));
    passes = 0;
    return [createDlpEngine(counting).inspect(body, pol), full.inspect(body, pol)];
  };
  inspectWith('"n":1');
  const fastPasses = passes;
  const cases: Array<[members: string, types: string[]]> = [
    ['"card":4.556737586899855e15', ['credit_card']],
    ['"ssn":5.36228143e8', ['us_ssn']],
    ['"ssn":536228143.0', ['us_ssn']],
    ['"n":[1,2,-4.556737586899855E+15]', ['credit_card']],
    ['"n":1E5', ['honeytoken']],
    ['"args":"{\\"ssn\\": 5.36228143e8}"', ['us_ssn']],
  ];
  for (const [members, types] of cases) {
    const [fast, slow] = inspectWith(members);
    assert.deepEqual(comparable(fast), comparable(slow), members);
    assert.deepEqual(fast.findings.map((f) => f.type), types, members);
  }
  for (const members of ['"temperature":0.7,"top_p":1.0,"max_tokens":1024', '"penalty":-3.5,"seed":12345,"ratio":0.0001']) {
    const [fast] = inspectWith(members);
    assert.deepEqual(fast.findings, [], members);
    assert.equal(passes, fastPasses, `${members}: the fast path stepped aside`);
  }
});

test('the fast path keeps buffers between bodies: results never depend on an earlier body, and normalising never overwrites the decoded text', () => {
  const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const pol = policy({ packs: real.packNames });
  const engine = createDlpEngine(real);
  const typographic = (seed: number): string => cleanChatBody(96 * 1024, seed).toString('utf8').replaceAll(' the ', ' the \u201C').replaceAll(' and ', ' \u2014 and ');
  // U+FDFA normalises to 33 bytes: text normalised over its own bytes would overrun what
  // follows, here an SSN that only JSON decoding reveals.
  const expanding = `${'\uFDFA '.repeat(200)}ssn \\u0035\\u0033\\u0036-90-4399`;
  const cases: Array<[name: string, body: string, types: string[]]> = [
    ['long, SSN spelled with \\u escapes and in fullwidth digits at the end', plant(typographic(1), 'x').replace(/}$/, ',"z":"ssn \\u0035\\u0033\\u0036-90-4399 \uFF15\uFF13\uFF16-\uFF19\uFF10-\uFF14\uFF13\uFF19\uFF19"}'), ['us_ssn']],
    ['shorter and clean', JSON.stringify({ messages: [{ role: 'user', content: 'the \u201Cplan\u201D \u2014 and \n more' }] }), []],
    ['shorter, email behind a \\u escape', JSON.stringify({ messages: [{ role: 'user', content: 'write to bob@example.com \u2014 thanks\n' }] }).replace('@', '\\u0040'), ['email']],
    ['shorter, SSN in fullwidth digits', JSON.stringify({ messages: [{ role: 'user', content: 'ssn \uFF15\uFF13\uFF16-\uFF19\uFF10-\uFF14\uFF13\uFF19\uFF19 \u201Cok\u201D\n' }] }), ['us_ssn']],
    ['characters that expand, then an escaped SSN', `{"messages":[{"role":"user","content":"${expanding}"}]}`, ['us_ssn']],
    ['long and clean again', typographic(3), []],
  ];
  for (const [name, body, types] of cases) {
    const r = engine.inspect(request(body), pol);
    assert.deepEqual([...new Set(r.findings.map((f) => f.type))].sort(), types, name);
  }
});

test('key patterns (a value found by the name of its key) fire through the fast path and the group prefilter (real detectors)', () => {
  // A key pattern matches a whole value and reads the key beside it: the set passes over the
  // body and over groups of views never saw the two together, so `{"api_key": "<secret>"}` was
  // passed as clean by both, while the full path found it.
  const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const pol = policy({ packs: real.packNames });
  const fast = createDlpEngine(real);
  const noGroup = createDlpEngine(real, { fastPath: false });
  const full = createDlpEngine(real, { fastPath: false, groupPrefilter: false });
  const secret = 'q8Zr2LmT7vXw4KpN9bYc';
  const chat = cleanChatBody(24 * 1024, 5).toString('utf8');
  const inChat = (member: string): string => chat.replace(/}$/, `,${member}}`);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: Array<[name: string, req: InspectRequest, type: string]> = [
    ['JSON member', request(`{"api_key":"${secret}"}`), 'generic_secret'],
    ['JSON member, spaced', request(`{"api_key"    :    "${secret}"}`), 'generic_secret'],
    ['JSON member, line breaks around the colon', request(`{"api_key"\n:\n"${secret}"}`), 'generic_secret'],
    ['JSON member, key in capitals', request(`{"CLIENT_SECRET": "${secret}"}`), 'generic_secret'],
    ['JSON member, key spelled with a \\u escape', request(`{"api\\u005fkey":"${secret}"}`), 'generic_secret'],
    ['JSON member, key with a quote in it', request(`{"my\\"password":"${secret}"}`), 'generic_secret'],
    ['JSON member, value in nested arrays', request(`{"token": [ ["${secret}"] ]}`), 'generic_secret'],
    // Red team, session 14: only the array's first element was read.
    ['JSON member, an array whose first element is a number', request(inChat(`"secret": [0, "${secret}"]`)), 'generic_secret'],
    ['JSON member, an array whose first element is null', request(inChat(`"passwords": [null, "${secret}"]`)), 'generic_secret'],
    ['JSON member, an array whose first element is an object', request(inChat(`"api_keys": [{"name": "ci"}, "${secret}"]`)), 'generic_secret'],
    ['JSON member, an array whose first element is a long clean string', request(inChat(`"tokens": ["${'plain words here '.repeat(4)}", "${secret}"]`)), 'generic_secret'],
    ['JSON member among a chat body', request(inChat(`"password":"${secret}"`)), 'generic_secret'],
    ['JSON member in nested tool-call arguments', request(addToolCall(chat, JSON.stringify({ db: { password: secret } }))), 'generic_secret'],
    ['JSON member, the value padded with spaces', request(inChat(`"api_key": "${' '.repeat(5000)}${secret}"`)), 'generic_secret'],
    ['JSON member, the value padded with zero-width spaces', request(inChat(`"api_key": "${'\u200B'.repeat(3000)}${secret}"`)), 'generic_secret'],
    ['JSON member, a Basic credential after a long run of spaces', request(inChat(`"authorization": "Basic${' '.repeat(700)}dXNlcjpRdzdyVDJ4azlMbTR2Qjhu"`)), 'http_auth_credential'],
    ['JSON number under an ssn key', request(inChat('"SSN" :\n 536904399')), 'us_ssn'],
    ['JSON date under a birth key', request(inChat('"date_of_birth": "1984-03-12"')), 'date_of_birth'],
    ['sniffed JSON, no content type', request(`{"api_key":"${secret}"}`, { 'content-type': '' }), 'generic_secret'],
    ['form field among others', request(`a=1&b=2&password=${secret}&c=3`, form), 'generic_secret'],
    ['query parameter among others', request('{}', {}, `/v1/x?a=1&api_key=${secret}&b=2`), 'generic_secret'],
    ['header among others', request('{}', { 'x-trace': 'abc', 'x-auth-token': secret, 'x-other': 'def' }), 'generic_secret'],
  ];
  for (const [name, req, type] of cases) {
    const want = comparable(full.inspect(req, pol));
    assert.ok(full.inspect(req, pol).findings.some((f) => f.type === type), `${name}: the full path finds ${type}`);
    assert.deepEqual(comparable(fast.inspect(req, pol)), want, `${name}: fast path and group prefilter`);
    assert.deepEqual(comparable(noGroup.inspect(req, pol)), want, `${name}: group prefilter`);
  }
  // Keys that hold a key word but values that are not secrets stay on the fast path's verdict.
  for (const body of [inChat('"max_tokens": 1024'), inChat('"author": "ada"'), inChat('"password_hint": "short"')]) {
    const r = fast.inspect(request(body), pol);
    assert.deepEqual(r.findings, [], body.slice(-40));
  }
});

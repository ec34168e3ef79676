/**
 * HTML character references (decode-charref.ts): the decoder, and the engine reading a value
 * hidden in them (red team, session 12: `&#53;36-22-8143`; named ones: `536&hyphen;22&hyphen;8143`,
 * `jane&commat;example.com`), through the fast path and the full path, without reporting twice
 * what the text shows as written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodingMode, EntityDecoder, htmlDecodeTree } from 'entities/decode';
import { coversDecoded, decodeCharRefs, hasCharRef, hasCharRefBytes } from '../../../proxy/dlp/decode-charref.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, prng, request } from './inspect-helpers.js';

const decodes: Array<[string, string, string, number[]]> = [
  // name, input, decoded text, spans
  ['decimal', 'a&#53;b', 'a5b', [1, 2]],
  ['hex, either case of x', '&#x35;&#X36;', '56', [0, 1, 1, 2]],
  ['without the semicolon', '&#53 36', '5 36', [0, 1]],
  ['leading zeros', '&#00053;', '5', [0, 1]],
  ['past U+FFFF: two UTF-16 units', 'x&#128512;y', 'x\u{1F600}y', [1, 3]],
  ['NUL, a surrogate and past U+10FFFF are U+FFFD, as in HTML', '&#0;&#xD800;&#1114112;', '\uFFFD\uFFFD\uFFFD', [0, 1, 1, 2, 2, 3]],
  ['128-159 are read as windows-1252, as in HTML', '&#128;', '\u20AC', [0, 1]],
  ['not a reference', 'AT&T &# &#x; &#a; a&b=c &unknownname;', 'AT&T &# &#x; &#a; a&b=c &unknownname;', []],
  ['named references', '&nbsp;&amp;&commat;&hyphen;&period;', '\u00A0&@\u2010.', [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]],
  ['a legacy name without its semicolon', 'x&nbsp y &amp', 'x\u00A0 y &', [1, 2, 5, 6]],
  ['... unless a letter, a digit or `=` follows (a query string)', '?a=1&region=eu&copy=2&nbspx&ltlang', '?a=1&region=eu&copy=2&nbspx&ltlang', []],
  ['other names need their semicolon', '&commat x', '&commat x', []],
  ['a name standing for two code points', '&NotEqualTilde;', '\u2242\u0338', [0, 2]],
  ['a reference cut by the end of the text', 'x&#53', 'x5', [1, 2]],
  ['a reference to `&` is decoded once', '&#38;#53;', '&#53;', [0, 1]],
  ['`&amp;` is decoded once', '&amp;#53;', '&#53;', [0, 1]],
];
for (const [name, input, text, spans] of decodes) {
  test(`decodeCharRefs: ${name}`, () => {
    const r = decodeCharRefs(input);
    assert.equal(r.text, text);
    assert.deepEqual([...r.spans], spans);
    assert.equal(hasCharRef(input), spans.length > 0);
    assert.equal(hasCharRefBytes(Buffer.from(input)), hasCharRef(input));
  });
}

/**
 * What decodeCharRefs must read: every `&` handed to the decoder, none skipped by the pre-check
 * that keeps query strings (`&lang=en`) away from it, with the standard's rule for a legacy name
 * in an attribute (not before a letter, a digit or `=`).
 */
function decodeEveryAmpersand(s: string): string {
  let out = '';
  let cps = '';
  const decoder = new EntityDecoder(htmlDecodeTree, (cp) => {
    cps += String.fromCodePoint(cp);
  });
  let from = 0;
  for (let p = s.indexOf('&'); p !== -1; p = s.indexOf('&', p + 1)) {
    if (p < from) continue;
    cps = '';
    decoder.startEntity(DecodingMode.Attribute);
    let length = decoder.write(s, p + 1);
    if (length < 0) length = decoder.end();
    if (length <= 0 || cps === '') continue;
    if (s[p + 1] !== '#' && s[p + length - 1] !== ';' && /[A-Za-z0-9=]/.test(s[p + length] ?? '')) continue;
    out += s.slice(from, p) + cps;
    from = p + length;
  }
  return out + s.slice(from);
}

test('decodeCharRefs reads every reference the decoder reads, and hasCharRef says so, on 20,000 random texts', () => {
  const pieces = ['&', '&', '#', 'x', 'X', ';', ';', '=', ' ', '5', '53', '0', 'f', 'a', 'amp', 'nbsp', 'lt', 'not', 'notin', 'reg', 'region',
    'commat', 'hyphen', 'frac12', 'middot', 'CounterClockwiseContourIntegral', 'NotEqualTilde', 'lang', 'q', '-', '\u00e9',
    '&amp', '&nbsp', '&lt', '&reg', '&not', '&commat', '&#', '&#x', '&#53', '&#x35'];
  const rand = prng(11);
  let references = 0;
  for (let n = 0; n < 20_000; n++) {
    let s = '';
    const len = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < len; i++) s += pieces[Math.floor(rand() * pieces.length)];
    const r = decodeCharRefs(s);
    assert.equal(r.text, decodeEveryAmpersand(s), JSON.stringify(s));
    assert.equal(hasCharRef(s), r.spans.length > 0, JSON.stringify(s));
    assert.equal(hasCharRefBytes(Buffer.from(s)), hasCharRef(s), JSON.stringify(s));
    if (r.spans.length > 0) references++;
  }
  assert.ok(references > 5_000, `${references} texts with a reference`);
});

test('coversDecoded: overlap with a decoded character, not adjacency', () => {
  assert.equal(coversDecoded([1, 2], 0, 1), false);
  assert.equal(coversDecoded([1, 2], 2, 5), false);
  assert.equal(coversDecoded([1, 2], 0, 2), true);
  assert.equal(coversDecoded([1, 2, 7, 8], 5, 9), true);
});

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const bodies: Array<[string, string, string, string[]]> = [
  // name, JSON note, decision, findings (type:action)
  ['an SSN with its first digit as a reference', 'ssn &#53;36-22-8143', 'block', ['us_ssn:block']],
  ['an SSN in hex references', 'ssn &#x35;&#x33;&#x36;&#x2d;&#x32;&#x32;&#x2d;&#x38;&#x31;&#x34;&#x33;', 'block', ['us_ssn:block']],
  ['an SSN referenced twice over (&#38;)', 'ssn &#38;#53;36-22-8143', 'block', ['us_ssn:block']],
  ['an SSN referenced twice over (&amp;)', 'ssn &amp;#53;36-22-8143', 'block', ['us_ssn:block']],
  ['an SSN with named dashes', 'ssn 536&hyphen;22&minus;8143', 'block', ['us_ssn:block']],
  ['an e-mail address with a named @', 'mail jane.doe&commat;example.com', 'block', ['email:block']],
  ['a card with named spaces', 'card 4556&nbsp;7375&nbsp;8689&nbsp;9855', 'block', ['credit_card:block']],
  ['a honeytoken with one referenced character', 'WARDEN-CANARY-5e1d0b7&#55;', 'block', ['honeytoken:block']],
  ['a plain SSN beside a reference: redacted, reported once', 'it&#39;s ssn 536-22-8143', 'redact', ['us_ssn:redact']],
  ['references and nothing else', 'it&#39;s &#8220;fine&#8221; &amp; &nbsp;&copy; 2026', 'allow', []],
  ['a URL with query parameters that start like names', 'see https://x.test/a?b=1&region=eu&notify=1&copy=2', 'allow', []],
];
for (const [name, note, decision, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`character references (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content: note }] })), pol);
      assert.equal(r.decision, decision);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
    });
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backslashStringTokens, bytesLookLikeJson, memberSegment, tokenizeJson, tokenMayBeJson, unescapeJson, unescapeJsonBytes } from '../../../proxy/dlp/decode-json.js';
import { prng } from './inspect-helpers.js';

/** Decoded value, where and key of every token. */
function leaves(text: string): Array<[kind: string, value: string, where: string, key: string | null]> {
  const tokens = tokenizeJson(text, 'body');
  assert.ok(tokens !== null, 'valid JSON');
  return tokens.map((t) => {
    const raw = text.slice(t.start, t.end);
    return [t.kind, t.kind === 'number' ? raw : unescapeJson(raw, false).text, t.where, t.key];
  });
}

test('walks string leaves with key paths and key context', () => {
  const text = '{"model":"m","messages":[{"role":"user","content":"hi"},{"content":["a","b"]}]}';
  assert.deepEqual(leaves(text), [
    ['key', 'model', 'body{key}', null],
    ['string', 'm', 'body.model', 'model'],
    ['key', 'messages', 'body{key}', null],
    ['key', 'role', 'body.messages[0]{key}', null],
    ['string', 'user', 'body.messages[0].role', 'role'],
    ['key', 'content', 'body.messages[0]{key}', null],
    ['string', 'hi', 'body.messages[0].content', 'content'],
    ['key', 'content', 'body.messages[1]{key}', null],
    ['string', 'a', 'body.messages[1].content[0]', 'content'],
    ['string', 'b', 'body.messages[1].content[1]', 'content'],
  ]);
});

test('odd key names are quoted in paths and keys are lower-cased', () => {
  const text = '{"Content-Type":"x","a b":"y","ÄÖ":"z"}';
  const values = leaves(text).filter(([kind]) => kind === 'string');
  assert.deepEqual(values.map(([, , where, key]) => [where, key]), [
    ['body.Content-Type', 'content-type'],
    ['body["a b"]', 'a b'],
    ['body["ÄÖ"]', 'äö'],
  ]);
});

test('long numbers are tokens, short ones are not', () => {
  const text = '{"ssn":536904399,"n":12,"f":1.5e10,"neg":-1234567}';
  const numbers = leaves(text).filter(([kind]) => kind === 'number').map(([, v, where]) => [v, where]);
  assert.deepEqual(numbers, [['536904399', 'body.ssn'], ['1.5e10', 'body.f'], ['-1234567', 'body.neg']]);
});

test('escaped strings decode exactly like JSON.parse', () => {
  const text = JSON.stringify({ k: 'line\nbreak "quoted" back\\slash tab\t é \u0001 😀 </script>' }).replace('é', '\\u00e9');
  const [, value] = leaves(text).find(([kind]) => kind === 'string') ?? [];
  assert.equal(value, (JSON.parse(text) as { k: string }).k);
});

const invalid: Array<[name: string, text: string]> = [
  ['empty', ''],
  ['trailing comma', '{"a":1,}'],
  ['unquoted key', '{a:1}'],
  ['single quotes', "{'a':1}"],
  ['unterminated string', '{"a":"b}'],
  ['bad escape', '{"a":"\\x41"}'],
  ['short unicode escape', '{"a":"\\u12"}'],
  ['two top-level values', '{} {}'],
  ['missing colon', '{"a" 1}'],
  ['mismatched brackets', '[1,2}'],
  ['leading zero', '[01]'],
  ['bare word', '[nope]'],
  ['unclosed array', '[1,2'],
];
for (const [name, text] of invalid) {
  test(`rejects invalid JSON: ${name}`, () => assert.equal(tokenizeJson(text, 'body'), null));
}

test('accepts every JSON.stringify output and scalar tops', () => {
  for (const v of [null, true, 0, -0.5, 'x', [], {}, [[[]]], { a: { b: [1, { c: 'd' }] } }]) {
    assert.notEqual(tokenizeJson(JSON.stringify(v), 'body'), null, JSON.stringify(v));
  }
});

test('string leaves read as JSON.parse reads them, escapes and quotes anywhere (2,000 random documents)', () => {
  // The tokenizer remembers the next quote and the next backslash across escapes (so a long
  // string with many `\n` is not searched to its end per escape): a stale position would cut
  // a string short or run it into the next one.
  const rand = prng(5);
  const pieces = ['a', 'bc', '"', '\\', '\n', '/', '\u00e9', 'x'.repeat(50), '\\"', '""'];
  const str = (): string => {
    let t = '';
    const n = Math.floor(rand() * 12);
    for (let k = 0; k < n; k++) t += pieces[Math.floor(rand() * pieces.length)];
    return t;
  };
  for (let i = 0; i < 2_000; i++) {
    const doc: Record<string, unknown> = {};
    const members = 1 + Math.floor(rand() * 5);
    for (let m = 0; m < members; m++) doc[str()] = rand() < 0.5 ? str() : [str(), { [str()]: str() }];
    const text = JSON.stringify(doc);
    const expected: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') expected.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) { expected.push(k); walk(x); }
    };
    walk(JSON.parse(text));
    assert.deepEqual(leaves(text).map((l) => l[1]), expected, text);
  }
});

test('deep nesting does not overflow the stack', () => {
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  assert.deepEqual(tokenizeJson(deep, 'body'), []);
});

test('unescapeJson maps each decoded unit to its escape', () => {
  const { text, map } = unescapeJson('a\\nb\\u0040c', true);
  assert.equal(text, 'a\nb@c');
  assert.ok(map);
  assert.deepEqual([...map.starts], [0, 1, 3, 4, 10]);
  assert.deepEqual([...map.ends], [1, 3, 4, 10, 11]);
});

test('unescapeJson keeps invalid escapes literally', () => {
  assert.equal(unescapeJson('C:\\Users\\x', false).text, 'C:\\Users\\x');
  assert.equal(unescapeJson('\\\\u0040', false).text, '\\u0040');
});

test('unescapeJsonBytes agrees with unescapeJson (property over random escaped text)', () => {
  const rand = prng(7);
  const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', 'é', '😀', '\u2028', '\u0001', 'u', '{'];
  for (let i = 0; i < 500; i++) {
    let s = '';
    const n = Math.floor(rand() * 40);
    for (let k = 0; k < n; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const escaped = JSON.stringify(s).slice(1, -1);
    const viaBytes = unescapeJsonBytes(Buffer.from(escaped, 'utf8')).toString('utf8');
    assert.equal(viaBytes, unescapeJson(escaped, false).text);
    assert.equal(viaBytes, s);
  }
});

test('unescapeJsonBytes agrees with unescapeJson on long runs, invalid escapes and a trailing backslash', () => {
  const rand = prng(11);
  // Runs longer than the native-copy threshold, raw (possibly invalid) escapes, truncated \u.
  const pieces = ['x'.repeat(40), 'abc', '\\n', '\\"', '\\u00e9', '\\ud83d\\ude00', '\\ud83d', '\\q', '\\u12', '\\\\', 'é'.repeat(20), ' '];
  for (let i = 0; i < 500; i++) {
    let s = '';
    const n = Math.floor(rand() * 30);
    for (let k = 0; k < n; k++) s += pieces[Math.floor(rand() * pieces.length)];
    if (rand() < 0.2) s += '\\';
    const viaBytes = unescapeJsonBytes(Buffer.from(s, 'utf8')).toString('utf8');
    // A lone surrogate has no UTF-8 form: the byte version writes U+FFFD, as encoding would.
    const viaString = Buffer.from(unescapeJson(s, false).text, 'utf8').toString('utf8');
    assert.equal(viaBytes, viaString, JSON.stringify(s));
  }
});

test('unescapeJsonBytes returns the same buffer when there is nothing to decode', () => {
  const b = Buffer.from('{"a":"plain"}');
  assert.equal(unescapeJsonBytes(b), b);
  const windows = Buffer.from('C:\\Users');
  assert.equal(unescapeJsonBytes(windows), windows);
});

const tokenCases: Array<[json: string, tokens: string[]]> = [
  ['{"a":"plain","b":"x\\ny"}', []],
  ['{"a":"x\\\\y"}', ['x\\\\y']],
  ['{"a":"plain","b":"c\\\\d","e":"f"}', ['c\\\\d']],
  ['{"a":"\\u005c","b":"\\u005Cn"}', ['\\u005c', '\\u005Cn']],
  ['{"a":"q\\"\\\\","b":1}', ['q\\"\\\\']],
  ['{"a":"\\\\\\\\","k\\\\":"v"}', ['\\\\\\\\', 'k\\\\']],
  ['{"a":"{\\"b\\":\\"c\\\\nd\\"}"}', ['{\\"b\\":\\"c\\\\nd\\"}']],
  ['{"a":"\\\\u005c is text"}', ['\\\\u005c is text']],
  ['\\\\ outside any string', []],
];
for (const [json, tokens] of tokenCases) {
  test(`backslashStringTokens: ${json}`, () => {
    const buf = Buffer.from(json, 'utf8');
    assert.deepEqual(backslashStringTokens(buf).map(([a, b]) => buf.subarray(a, b).toString('utf8')), tokens);
  });
}

test('backslashStringTokens finds what searches back and forth from each escape find (random texts, strings left open)', () => {
  // The reading before it was made one pass (session 15): for each candidate, the nearest
  // unescaped quote before and after it.
  const escaped = (b: Buffer, i: number): boolean => {
    let n = 0;
    for (let k = i - 1; k >= 0 && b[k] === 0x5C; k--) n++;
    return (n & 1) === 1;
  };
  const reference = (json: Buffer): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    const candidates: number[] = [];
    for (let p = json.indexOf('\\\\'); p !== -1; p = json.indexOf('\\\\', p + 2)) candidates.push(p);
    for (let p = json.indexOf('\\u005'); p !== -1; p = json.indexOf('\\u005', p + 5)) {
      const c = json[p + 5];
      if ((c === 0x63 || c === 0x43) && !escaped(json, p)) candidates.push(p);
    }
    candidates.sort((a, b) => a - b);
    let covered = -1;
    for (const p of candidates) {
      if (p < covered) continue;
      let q = json.lastIndexOf(0x22, p);
      while (q > 0 && escaped(json, q)) q = json.lastIndexOf(0x22, q - 1);
      let r = json.indexOf(0x22, p);
      while (r !== -1 && escaped(json, r)) r = json.indexOf(0x22, r + 1);
      if (q < 0 || r < 0) continue;
      out.push([q + 1, r]);
      covered = r;
    }
    return out;
  };
  const rand = prng(31);
  const alphabet = ['"', '\\', '\\\\', 'a', ' ', '\\u005c', '\\u005C', '\\"', ':', '{', 'n'];
  for (let n = 0; n < 4000; n++) {
    let t = '';
    const len = 1 + Math.floor(rand() * 16);
    for (let i = 0; i < len; i++) t += alphabet[Math.floor(rand() * alphabet.length)];
    const buf = Buffer.from(t, 'latin1');
    assert.deepEqual(backslashStringTokens(buf), reference(buf), JSON.stringify(t));
  }
});

test('memberSegment', () => {
  assert.equal(memberSegment('content'), '.content');
  assert.equal(memberSegment('x-api'), '.x-api');
  assert.equal(memberSegment('1abc'), '["1abc"]');
  assert.equal(memberSegment('a"b'), '["a\\"b"]');
  assert.ok(memberSegment('k'.repeat(500)).length < 80);
});

test('tokenMayBeJson: never false for a string token that decodes to something that looks like JSON', () => {
  const cases: Array<[raw: string, may: boolean]> = [
    ['{"a":1}', true], ['[1]', true], ['  {', true], ['\\n\\t {', true], ['\\r\\n[', true],
    ['\\u007b"a":1}', true], // an escaped brace: decoding needed, so maybe
    ['\\"{', true], // an escaped quote first: maybe (it decodes to `"`, but only decoding says so)
    ['C:\\\\Users', false], ['print(\\"a\\\\nb\\")', false], ['  x {', false], ['\\n\\n', false], ['', false],
  ];
  for (const [raw, may] of cases) {
    const b = Buffer.from(`"${raw}"`);
    assert.equal(tokenMayBeJson(b, 1, b.length - 1), may, raw);
  }
  // Property: whenever the decoded token looks like JSON, the raw check says maybe.
  const next = prng(17);
  const rand = (): number => Math.floor(next() * 0x7FFFFFFF);
  const pieces = [' ', '\\n', '\\t', '\\r', '\\u0020', '\\u007b', '\\u005b', '{', '[', 'a', '\\\\', '\\"', '\\/', '1', '"x"'];
  let looked = 0;
  for (let i = 0; i < 5000; i++) {
    let raw = '';
    const n = 1 + (rand() % 6);
    for (let k = 0; k < n; k++) raw += pieces[rand() % pieces.length];
    const b = Buffer.from(`"${raw}"`);
    const decodedLooks = bytesLookLikeJson(unescapeJsonBytes(b.subarray(1, b.length - 1)));
    if (decodedLooks) {
      looked++;
      assert.ok(tokenMayBeJson(b, 1, b.length - 1), `raw ${JSON.stringify(raw)}`);
    }
  }
  assert.ok(looked > 500, `${looked} tokens looked like JSON`);
});

test('tokenizeJson: paths stop growing past 512 characters, at a whole segment (a deep document was quadratic in memory)', () => {
  const key = 'k'.repeat(64);
  const depth = 3000;
  const json = `{"s":"x",${`"${key}":{`.repeat(depth)}"leaf":"536-22-8143"${'}'.repeat(depth)}}`;
  const tokens = tokenizeJson(json, 'body');
  assert.ok(tokens !== null);
  const longest = Math.max(...tokens.map((t) => t.where.length));
  assert.ok(longest <= 513, `longest path ${longest}`);
  const leaf = tokens.find((t) => json.slice(t.start, t.end) === '536-22-8143');
  assert.ok(leaf?.where.startsWith(`body.${key}.${key}`) && leaf.where.endsWith('….leaf'), leaf?.where.slice(-20));
  // Cut between segments, never inside a name.
  assert.ok(leaf !== undefined && !/\.k{1,63}…/.test(leaf.where));
  assert.equal(tokens.find((t) => json.slice(t.start, t.end) === 'x')?.where, 'body.s');
});

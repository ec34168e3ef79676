import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { canonicalJson } from '../../../proxy/audit/canonical.js';

const cases: Array<[name: string, value: unknown, expected: string]> = [
  ['keys sorted', { b: 1, a: 2 }, '{"a":2,"b":1}'],
  ['sorted recursively', { z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null }, '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}'],
  ['undefined members omitted', { a: undefined, b: 1 }, '{"b":1}'],
  ['undefined array element is null', [1, undefined, 3], '[1,null,3]'],
  ['no whitespace', { a: [1, 2], b: 'x y' }, '{"a":[1,2],"b":"x y"}'],
  ['uppercase sorts before lowercase (UTF-16 order)', { b: 1, B: 2, _: 3 }, '{"B":2,"_":3,"b":1}'],
  ['snake_case fields', { bytes_up: 1, bytes_down: 2, by: 3 }, '{"by":3,"bytes_down":2,"bytes_up":1}'],
  ['numbers like JSON.stringify', { a: 1.5, b: -0, c: 1e21, d: 0.1 }, '{"a":1.5,"b":0,"c":1e+21,"d":0.1}'],
  ['string escapes', { s: 'a"b\\c\n\t\u0001é' }, '{"s":"a\\"b\\\\c\\n\\t\\u0001é"}'],
  ['lone surrogate escaped', { s: '\ud800' }, '{"s":"\\ud800"}'],
  ['empty containers', { a: {}, b: [] }, '{"a":{},"b":[]}'],
  ['booleans and null', [true, false, null], '[true,false,null]'],
];

for (const [name, value, expected] of cases) {
  test(`canonicalJson: ${name}`, () => assert.equal(canonicalJson(value), expected));
}

test('canonicalJson: output parses back to an equal value', () => {
  const v = { z: 1, a: { c: [1, 'x', { b: true }] } };
  assert.deepEqual(JSON.parse(canonicalJson(v)), v);
});

test('canonicalJson: keys that look like a separator do not confuse the shape cache', () => {
  assert.equal(canonicalJson({ 'a\u0000b': 1 }), '{"a\\u0000b":1}');
  assert.equal(canonicalJson({ a: 1, b: 2 }), '{"a":1,"b":2}');
  assert.equal(canonicalJson({ 'a,b': 1, c: 2 }), '{"a,b":1,"c":2}');
  assert.equal(canonicalJson({ a: 1, 'b,c': 2 }), '{"a":1,"b,c":2}');
});

const refused: Array<[name: string, value: unknown]> = [
  ['NaN', { a: NaN }],
  ['Infinity', [Infinity]],
  ['bigint', { a: 1n }],
  ['function', { a: () => 1 }],
];
for (const [name, value] of refused) {
  test(`canonicalJson refuses ${name}`, () => assert.throws(() => canonicalJson(value), TypeError));
}

test('canonicalJson refuses absurd nesting', () => {
  let v: unknown = 1;
  for (let i = 0; i < 100; i++) v = { a: v };
  assert.throws(() => canonicalJson(v), /nesting/);
});

/** The definition, written as plainly as possible: the oracle for the optimised version. */
function naive(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : naive(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${naive(o[k])}`).join(',')}}`;
}

test('canonicalJson equals the naive definition on generated values (shapes repeat: caches hit)', () => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const alphabet = ['a', 'Z', '_', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '😀', '\ud800', ' ', '/'];
  const str = (): string => Array.from({ length: rand(6) }, () => alphabet[rand(alphabet.length)]).join('');
  const keys = ['b', 'a', 'B', '_x', 'a_b', 'é', 'z"q', '10', '9'];
  const gen = (depth: number): unknown => {
    switch (rand(depth > 2 ? 5 : 7)) {
      case 0: return str();
      case 1: return [0, -0, 1.5, -3, 1e21, 1e-7, 2 ** 53, 0.1 + 0.2][rand(8)];
      case 2: return rand(2) === 0;
      case 3: return null;
      case 4: return undefined;
      case 5: return Array.from({ length: rand(4) }, () => gen(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = rand(5); i > 0; i--) o[keys[rand(keys.length)]!] = gen(depth + 1);
        return o;
      }
    }
  };
  for (let i = 0; i < 3000; i++) {
    const v = { k: gen(0), [keys[rand(keys.length)]!]: gen(0) };
    assert.equal(canonicalJson(v), naive(v));
  }
});

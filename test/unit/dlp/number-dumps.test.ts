/**
 * Bytes dumped as numbers (decode-wrapped.ts numberDumps): `od -t x1`, `od -x`, `od -t x4`,
 * `od -b`, `od -An -tx1`, `hexdump`, `hexdump -x`, `hexdump -b`. A value in such a dump was in
 * no view (`od -c`, `xxd` and `hexdump -C` were read; these were not).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberDumps, readableCharDump } from '../../../proxy/dlp/decode-wrapped.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, prng, request } from './inspect-helpers.js';

/**
 * GNU `od` of `text`, 16 bytes a line, in fields of `size` bytes (little-endian words, as od
 * prints them on x86 and ARM), hex or (`octal`, size 1: `od -b`) octal; with `addresses`, octal
 * offsets and a last line with the total, as `od` writes them; without, as `od -An`.
 */
function od(text: string, size: 1 | 2 | 4, octal = false, addresses = true): string {
  const b = Buffer.from(text);
  const padded = Buffer.concat([b, Buffer.alloc((size - (b.length % size)) % size)]);
  const lines: string[] = [];
  for (let at = 0; at < b.length; at += 16) {
    const fields: string[] = [];
    for (let k = at; k < Math.min(at + 16, padded.length); k += size) {
      const v = size === 1 ? padded.readUInt8(k) : size === 2 ? padded.readUInt16LE(k) : padded.readUInt32LE(k);
      fields.push(` ${octal ? v.toString(8).padStart(3, '0') : v.toString(16).padStart(size * 2, '0')}`);
    }
    lines.push((addresses ? at.toString(8).padStart(7, '0') : '') + fields.join(''));
  }
  if (addresses) lines.push(b.length.toString(8).padStart(7, '0'));
  return `${lines.join('\n')}\n`;
}

/** BSD `hexdump` (`kind` '': 16-bit words; 'x': the same, 8 columns apiece; 'b': octal bytes), hex offsets, a short last line padded. */
function hexdump(text: string, kind: '' | 'x' | 'b' = ''): string {
  const b = Buffer.from(text);
  const padded = Buffer.concat([b, Buffer.alloc(b.length % 2)]);
  const lines: string[] = [];
  for (let at = 0; at < b.length; at += 16) {
    const fields: string[] = [];
    for (let i = 0; i < (kind === 'b' ? 16 : 8); i++) {
      const k = at + (kind === 'b' ? i : 2 * i);
      const w = kind === 'x' ? 8 : kind === 'b' ? 4 : 5;
      if (k >= (kind === 'b' ? b.length : padded.length)) {
        fields.push(' '.repeat(w));
        continue;
      }
      fields.push((kind === 'b' ? (padded[k] as number).toString(8).padStart(3, '0') : padded.readUInt16LE(k).toString(16).padStart(4, '0')).padStart(w, ' '));
    }
    lines.push(at.toString(16).padStart(7, '0') + fields.join(''));
  }
  lines.push(b.length.toString(16).padStart(7, '0'));
  return `${lines.join('\n')}\n`;
}

test('od and hexdump write what GNU od and BSD hexdump write (checked against the tools)', () => {
  const text = 'ssn 536-22-8143 ok\n';
  assert.equal(od(text, 1), '0000000 73 73 6e 20 35 33 36 2d 32 32 2d 38 31 34 33 20\n0000020 6f 6b 0a\n0000023\n');
  assert.equal(od(text, 2), '0000000 7373 206e 3335 2d36 3232 382d 3431 2033\n0000020 6b6f 000a\n0000023\n');
  assert.equal(od(text, 4, false, false), ' 206e7373 2d363335 382d3232 20333431\n 000a6b6f\n');
  assert.equal(od(text, 1, true), '0000000 163 163 156 040 065 063 066 055 062 062 055 070 061 064 063 040\n0000020 157 153 012\n0000023\n');
  assert.equal(hexdump(text), '0000000 7373 206e 3335 2d36 3232 382d 3431 2033\n0000010 6b6f 000a                              \n0000013\n');
  assert.equal(hexdump(text, 'x'), '0000000    7373    206e    3335    2d36    3232    382d    3431    2033\n0000010    6b6f    000a                                                \n0000013\n');
});

const ENV = 'GITHUB_TOKEN=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\nKEY=WARDEN-CANARY-5e1d0b77\n';
const decoded = (s: string): string[] => numberDumps(s).filter((d) => readableCharDump(d.hex)).map((d) => Buffer.from(d.hex, 'hex').toString('utf8').replace(/\0+$/, ''));

const formats: Array<[string, (t: string) => string]> = [
  ['od -t x1', (t) => od(t, 1)],
  ['od -An -tx1', (t) => od(t, 1, false, false)],
  ['od -x', (t) => od(t, 2)],
  ['od -t x4', (t) => od(t, 4)],
  ['od -b', (t) => od(t, 1, true)],
  ['hexdump', (t) => hexdump(t)],
  ['hexdump -x', (t) => hexdump(t, 'x')],
  ['hexdump -b', (t) => hexdump(t, 'b')],
  ['od -t x1z (an ASCII column)', (t) => od(t, 1).replace(/^(\d{7}(?: [0-9a-f]{2})+)$/gm, (l) => `${l.padEnd(55)}  >${'.'.repeat(4)}<`)],
  ['od -t x1, lines trimmed by a chat client', (t) => od(t, 1, false, false).replace(/^ /gm, '')],
];
for (const [name, dump] of formats) {
  test(`numberDumps: ${name}, a value across lines, after a prompt`, () => {
    assert.deepEqual(decoded(`$ ${name} .env\n${dump(ENV)}$ `), [ENV]);
  });
}

const notDumps: Array<[string, string]> = [
  ['a table of years', '2019 2020 2021 2022 2023 2024\n2025 2026 2027 2028 2029 2030\n'],
  ['file modes', 'chmod 755 644 600 700 750 640 444 555 775 664\n'],
  ['two-digit numbers in prose', 'scores: 45 67 32 55 38 61 42 39 50 48 and more\n'],
  ['test vectors of control bytes', ' 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n'],
  ['digests in columns', 'e3b0c442 98fc1c14 9afbf4c8 996fb924\n27ae41e4 649b934c a495991b 7852b855\n'],
  ['od -An -x and od -An -b (not read: see numberDumps)', `${od(ENV, 2, false, false)}\n${od(ENV, 1, true, false)}`],
  ['a dump from past offset 0 (od -j 16)', od(ENV, 1).replace(/^[0-7]{7}/gm, (o) => (parseInt(o, 8) + 16).toString(8).padStart(7, '0'))],
  ['offsets that do not step by the line', '0000000 73 73 6e 20 35 33 36 2d 32 32 2d 38 31 34 33 20\n0000100 6f 6b 0a 0a 0a 0a 0a 0a 0a 0a 0a 0a 0a 0a 0a 0a\n'],
];
for (const [name, text] of notDumps) {
  test(`numberDumps: ${name} is no text`, () => assert.deepEqual(decoded(text).filter((t) => /[0-9]{3}-[0-9]{2}-|ghp_/.test(t)), []));
}

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

test('mightMatch (the fast path\'s pass) is true wherever numberDumps reads a block, also inside a JSON string', () => {
  const noPacks = ['no-such-pack'];
  for (const [name, dump] of formats) {
    // The shortest a block is read at: 8 bytes on one line.
    for (const text of [ENV, 'abcdefgh', 'abcdefghijkl']) {
      const out = dump(text);
      if (numberDumps(out).length === 0) continue;
      assert.equal(detectors.mightMatch(Buffer.from(`{"content":"${out}"}`), noPacks), true, `${name}: ${out}`);
    }
  }
  assert.equal(detectors.mightMatch(Buffer.from('{"years": "2019 2020 2021 2022", "n": 100}'), noPacks), false);
});

for (const [name, dump] of formats) {
  for (const [ename, engine] of engines) {
    test(`number dumps (${ename}): ${name} of a .env holds its token and its honeytoken`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: `$ ${name} .env\n${dump(ENV)}` }] })), pol);
      assert.equal(r.decision, 'block');
      assert.deepEqual(new Set(r.findings.map((f) => f.type)), new Set(['github_token', 'honeytoken']));
    });
  }
}

const bodies: Array<[string, string, string[]]> = [
  // name, chat message, findings (type:action)
  ['an SSN and its newline in od -x (6 words: the shortest read)', od('536-22-8143\n', 2), ['us_ssn:block']],
  ['an AWS key id in od -An -tx1', od('AKIAQYLPMN5HHHFPZAM2\n', 1, false, false), ['aws_access_key_id:block']],
  ['a card number in od -b', od('card 4556 7375 8689 9855\n', 1, true), ['credit_card:block']],
  ['od -t x1 of clean text', od('just some text, nothing in it\n', 1), []],
];
for (const [name, content, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`number dumps (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content }] })), pol);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
      assert.equal(r.decision, findings.length > 0 ? 'block' : 'allow');
    });
  }
}

test('numberDumps finds every dump among random dumps, tables and noise', () => {
  const rand = prng(33);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  // 12 bytes or more: the shortest any format is read at (6 words of `od -x`).
  const word = (): string => Array.from({ length: 12 + Math.floor(rand() * 40) }, () => String.fromCharCode(0x20 + Math.floor(rand() * 95))).join('');
  const noise: Array<() => string> = [
    () => ` ${Array.from({ length: Math.floor(rand() * 20) }, () => Math.floor(rand() * 256).toString(16).padStart(2, '0')).join(' ')}`,
    () => `${Math.floor(rand() * 1e7).toString(8).padStart(7, '0')} ${Math.floor(rand() * 65536).toString(16)}`,
    () => pick(['', '*', '$ od -x f', 'the quick fox', '    ', '0000000', ' 20 20']),
  ];
  for (let n = 0; n < 400; n++) {
    const planted: string[] = [];
    let text = '';
    for (let i = 0; i < 1 + Math.floor(rand() * 5); i++) {
      if (rand() < 0.5) {
        const t = word();
        planted.push(t);
        const [name, dump] = pick(formats);
        text += `$ ${name} f\n${dump(t)}`;
      } else {
        text += `${pick(noise)()}\n`;
      }
    }
    // Noise right after a dump whose last line is whole may join it.
    const got = decoded(text);
    for (const t of planted) assert.ok(got.some((g) => g.includes(t)), JSON.stringify(text));
  }
});

test('numberDumps is one pass: 1 MiB of dump lines, of one line of fields, of lone dumps, of spaces and digits, each in well under a second', () => {
  const inputs: Array<[string, string]> = [
    ['25,000 lines of one dump', od('hello world, a line of text! '.repeat(14_000), 1, false, false)],
    ['one line of 350,000 fields', ' 41'.repeat(350_000)],
    ['32,000 dumps of one line each', '0000000 41 41 41 41 41 41 41 41\n'.repeat(32_000)],
    ['spaces and hex digits', '    a   bb  ccc 12345678 '.repeat(42_000)],
  ];
  for (const [name, text] of inputs) {
    const t0 = performance.now();
    numberDumps(text);
    const ms = performance.now() - t0;
    // Quadratic in any of these: minutes.
    assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms`);
  }
});

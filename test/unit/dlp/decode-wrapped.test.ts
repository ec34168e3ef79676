/**
 * Encoded data broken into lines (decode-wrapped.ts): `base64` at 76 columns, `openssl base64`
 * at 64, `xxd -p` at 60, and the `xxd` / `hexdump -C` layouts. Red team, session 14: a value
 * across a line break was in no view, literal honeytokens included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findBase64Runs } from '../../../proxy/dlp/decode-base64.js';
import { charDumps, hexDumps, wrappedBlocks, type HexDump } from '../../../proxy/dlp/decode-wrapped.js';
import { hexVal } from '../../../proxy/dlp/decode-percent.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, prng, request } from './inspect-helpers.js';

/** `text` base64-encoded and wrapped at `width` columns, as coreutils `base64 -w` writes it. */
function base64Wrapped(text: string | Buffer, width: number): string {
  const b64 = Buffer.from(text).toString('base64');
  return (b64.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join('\n') + '\n';
}

/** `xxd -p`: 30 bytes (60 hex digits) per line. */
function xxdPlain(text: string): string {
  const hex = Buffer.from(text).toString('hex');
  return (hex.match(/.{1,60}/g) ?? []).join('\n') + '\n';
}

const ascii = (b: Buffer): string => [...b].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');

/** `xxd` (groups of 2 bytes, 16 bytes a line, `-c` to change it) and `hexdump -C`. */
function xxd(text: string | Buffer, perLine = 16): string {
  const b = Buffer.from(text);
  let out = '';
  for (let o = 0; o < b.length; o += perLine) {
    const line = b.subarray(o, o + perLine);
    const groups = (line.toString('hex').match(/.{1,4}/g) ?? []).join(' ');
    out += `${o.toString(16).padStart(8, '0')}: ${groups.padEnd(perLine * 2 + perLine / 2 - 1)}  ${ascii(line)}\n`;
  }
  return out;
}
function hexdumpC(text: string | Buffer): string {
  const b = Buffer.from(text);
  let out = '';
  for (let o = 0; o < b.length; o += 16) {
    const line = b.subarray(o, o + 16);
    const bytes = [...line].map((c) => c.toString(16).padStart(2, '0'));
    const left = bytes.slice(0, 8).join(' ');
    const right = bytes.slice(8).join(' ');
    out += `${o.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii(line)}|\n`;
  }
  return `${out}${b.length.toString(16).padStart(8, '0')}\n`;
}

const ENV = 'GITHUB_TOKEN=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\nnote=the quick brown fox jumps over the lazy dog\nKEY=WARDEN-CANARY-5e1d0b77\n';

test('wrappedBlocks joins the lines of base64 and hex output, with a short last line or none', () => {
  for (const [name, out] of [
    ['base64 at 76', base64Wrapped(ENV, 76)],
    ['base64 at 64 (openssl)', base64Wrapped(ENV, 64)],
    ['xxd -p', xxdPlain(ENV)],
    ['base64 at 76, indented (YAML block)', base64Wrapped(ENV, 76).replace(/^/gm, '    ')],
    ['base64 at 76, CRLF', base64Wrapped(ENV, 76).replace(/\n/g, '\r\n')],
    ['all lines full, then a word', `${base64Wrapped(ENV.slice(0, 114), 76)}OK\n`],
  ] as const) {
    const text = `$ cat .env | encode\n${out}$ `;
    const blocks = wrappedBlocks(text, findBase64Runs(text));
    assert.equal(blocks.length, 1, name);
    const b = blocks[0]!;
    const joined = b.tail >= 0 && name.endsWith('a word') ? b.joined.slice(0, b.tail) : b.joined;
    const decoded = /^[0-9a-f]+$/.test(joined) ? Buffer.from(joined, 'hex') : Buffer.from(joined, 'base64');
    assert.equal(decoded.toString(), name.endsWith('a word') ? ENV.slice(0, 114) : ENV, name);
  }
});

test('wrappedBlocks leaves alone lines of different widths, single lines and lines with text between them', () => {
  for (const text of [
    'one AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA line',
    'QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWlo=\n', // the first line is shorter than the second
    'QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n', // a blank line between
    'QUJDREVGR0hJSktMTU5PUFFSU1RVVldY=\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n', // padding ends the first
  ]) {
    assert.deepEqual(wrappedBlocks(text, findBase64Runs(text)), [], text);
  }
});

test('hexDumps reads xxd (any -c and -g) and hexdump -C output, and nothing else', () => {
  for (const [name, out] of [
    ['xxd', xxd(ENV)],
    ['xxd -c 32', xxd(ENV, 32)],
    ['hexdump -C', hexdumpC(ENV)],
    ['xxd whose ASCII column starts with hex groups', xxd(`cafe babe ${ENV}`)],
  ] as const) {
    const dumps = hexDumps(`$ xxd .env\n${out}$ `);
    assert.equal(dumps.length, 1, name);
    assert.equal(Buffer.from(dumps[0]!.hex, 'hex').toString(), name.includes('hex groups') ? `cafe babe ${ENV}` : ENV, name);
  }
  // A table of numbers from offset 0 whose offsets do not follow from its bytes.
  assert.deepEqual(hexDumps('00000000 11 22\n00000010 33 44\n'), []);
  assert.deepEqual(hexDumps('id 00000000 ab cd\n'), []);
  assert.deepEqual(hexDumps('0000000000000000 ab cd\n0000000000000002 ef 01\n'), [{ start: 0, end: 45, hex: 'abcdef01' }]);
});

// hexDumps as it was before its reading was bounded (session 15): a search to the end of the
// line from every `00000000`, and offsets and groups read to the end of their digits. The
// bounded one must find the same dumps.
function referenceDumpLine(s: string, from: number, to: number, maxBytes: number): { offset: number; hex: string } | null {
  let p = from;
  while (p < to && s.charCodeAt(p) === 0x20) p++;
  const o = p;
  while (p < to && hexVal(s.charCodeAt(p)) >= 0) p++;
  if (p - o < 6 || p - o > 16) return null;
  const offset = parseInt(s.slice(o, p), 16);
  if (s.charCodeAt(p) === 0x3a) p++; // xxd's `00000010:`
  let hex = '';
  while (p < to && hex.length < maxBytes * 2) {
    let gap = 0;
    while (p < to && s.charCodeAt(p) === 0x20) { p++; gap++; }
    if (gap === 0 || gap > 2) break;
    const g = p;
    while (p < to && hexVal(s.charCodeAt(p)) >= 0) p++;
    const len = p - g;
    // A group is 2, 4 or 8 digits (xxd -g1/-g2/-g4; hexdump -C: 2) ending at a space or the line end.
    if ((len !== 2 && len !== 4 && len !== 8) || (p < to && s.charCodeAt(p) !== 0x20)) {
      p = g;
      break;
    }
    hex += s.slice(g, p);
  }
  return hex.length > 0 ? { offset, hex: hex.slice(0, maxBytes * 2) } : null;
}

function referenceHexDumps(s: string): HexDump[] {
  const dumps: HexDump[] = [];
  for (let at = s.indexOf('00000000'); at !== -1; at = s.indexOf('00000000', at + 1)) {
    // The first line from its offset: whatever comes before it on its line (a prompt, the `"`
    // that opens a JSON string in the fast path's buffers) is not part of the dump.
    const blockStart = at;
    let lineStart = blockStart;
    let hex = '';
    let width = 0;
    let lines = 0;
    let end = blockStart;
    let pending: { offset: number; hex: string } | null = null;
    let pendingEnd = blockStart;
    while (lineStart < s.length) {
      let lineEnd = s.indexOf('\n', lineStart);
      if (lineEnd === -1) lineEnd = s.length;
      const line = referenceDumpLine(s, lineStart, lineEnd, 64);
      if (line === null) break;
      if (pending === null) {
        if (line.offset !== 0) break;
      } else {
        if (width === 0) width = line.offset - pending.offset;
        // The line before was a whole line of `width` bytes, and this one starts after it.
        if (width <= 0 || pending.hex.length < width * 2 || line.offset !== pending.offset + width) break;
        hex += pending.hex.slice(0, width * 2);
        lines++;
      }
      pending = line;
      pendingEnd = lineEnd;
      lineStart = lineEnd + 1;
    }
    if (pending !== null && width > 0 && lines > 0) {
      // The last line: up to `width` bytes (a short last line is padded to the ASCII column).
      hex += pending.hex.slice(0, width * 2);
      lines++;
      end = pendingEnd;
    }
    if (lines >= 2) dumps.push({ start: blockStart, end, hex });
    at = Math.max(at, end - 8);
  }
  return dumps;
}

test('hexDumps finds what the unbounded reading finds: random dumps among zeros, tables and noise', () => {
  const rand = prng(21);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => (rand() < 0.3 ? 0 : Math.floor(rand() * 256))));
  const pieces: Array<() => string> = [
    () => xxd(bytes(8 + Math.floor(rand() * 80)), pick([8, 16, 32])),
    () => hexdumpC(bytes(8 + Math.floor(rand() * 80))),
    () => '0'.repeat(1 + Math.floor(rand() * 40)),
    () => '00000000 41 '.repeat(1 + Math.floor(rand() * 6)),
    () => `id 00000000 ${bytes(4).toString('hex')}`,
    () => bytes(1 + Math.floor(rand() * 12)).toString('hex'),
    () => pick(['\n', ' ', '  ', ': ', '$ xxd f\n', 'the quick fox ', '"', '00000010 ', '0000000000000000 ab cd\n']),
  ];
  for (let n = 0; n < 1500; n++) {
    let text = '';
    const k = 2 + Math.floor(rand() * 6);
    for (let i = 0; i < k; i++) text += pick(pieces)();
    assert.deepEqual(hexDumps(text), referenceHexDumps(text), JSON.stringify(text));
  }
});

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

test('mightMatch (the fast path\'s pass) is true wherever a dump hexDumps reads may start, also inside a JSON string', () => {
  // A dump all but always gives it something else too (offsets, digit groups): this does not rely on that.
  const noPacks = ['no-such-pack'];
  for (const out of [xxd('plain words here and there\n'), hexdumpC('plain words here and there\n'), xxd('ab\ncd', 4)]) {
    assert.ok(hexDumps(out).length > 0);
    assert.equal(detectors.mightMatch(Buffer.from(`{"content":"${out}"}`), noPacks), true, out);
  }
  assert.equal(detectors.mightMatch(Buffer.from('{"id": "00000000-0000-0000-0000-000000000000", "n": 100000000}'), noPacks), false);
});

// Each tool output of ENV holds the GitHub token and the honeytoken across line breaks.
const outputs: Array<[string, string]> = [
  ['base64 .env (76 columns)', base64Wrapped(ENV, 76)],
  ['openssl base64 (64 columns)', base64Wrapped(ENV, 64)],
  ['xxd -p', xxdPlain(ENV)],
  ['xxd', xxd(ENV)],
  ['hexdump -C', hexdumpC(ENV)],
];
for (const [name, out] of outputs) {
  for (const [ename, engine] of engines) {
    test(`wrapped output (${ename}): ${name} of a .env is read whole`, () => {
      // The value must straddle a line break for this test to mean anything.
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: `$ ${name}\n${out}` }] })), pol);
      assert.equal(r.decision, 'block');
      assert.deepEqual(new Set(r.findings.map((f) => f.type)), new Set(['github_token', 'honeytoken']));
    });
  }
}

test('wrapped output: a token whose prefix a dump\'s ASCII column splits', () => {
  for (const pad of [13, 14, 15]) {
    const text = `${'x'.repeat(pad - 1)} 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\n`;
    for (const out of [xxd(text), hexdumpC(text)]) {
      for (const [ename, engine] of engines) {
        const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: out }] })), pol);
        assert.deepEqual(r.findings.map((f) => f.type), ['github_token'], `${ename}, ${pad}`);
      }
    }
  }
});

test('wrapped output: every token position across the lines of base64 -w 76 (both paths)', () => {
  const rand = prng(3);
  for (let pad = 0; pad < 60; pad++) {
    const text = `${'x'.repeat(pad)} token 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 ${'y'.repeat(Math.floor(rand() * 40))}\n`;
    for (const [ename, engine] of engines) {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: base64Wrapped(text, 76) }] })), pol);
      assert.deepEqual(r.findings.map((f) => f.type), ['github_token'], `${ename}, ${pad}`);
    }
  }
});

test('wrapped output: base64 lines of an image, a list of digests and a PEM certificate find nothing', () => {
  const rand = prng(9);
  const image = Buffer.alloc(3000);
  for (let i = 0; i < image.length; i++) image[i] = Math.floor(rand() * 256);
  const digests = Array.from({ length: 40 }, () => Buffer.from(Array.from({ length: 32 }, () => Math.floor(rand() * 256))).toString('hex')).join('\n');
  for (const content of [base64Wrapped(image, 76), digests, `-----BEGIN CERTIFICATE-----\n${base64Wrapped(image.subarray(0, 900), 64)}-----END CERTIFICATE-----\n`]) {
    for (const [ename, engine] of engines) {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content }] })), pol);
      assert.deepEqual([r.decision, r.findings], ['allow', []], ename);
    }
  }
});

test('base64 of UTF-16 text (PowerShell -EncodedCommand, either byte order, with or without a BOM) is read', () => {
  // Red team, session 14 (F6): isPrintableBase64 rejects UTF-16 for its NULs.
  const script = "$env:GITHUB_TOKEN='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'; Write-Host done";
  const le = Buffer.from(script, 'utf16le');
  const be = Buffer.from(le).swap16();
  for (const bytes of [le, be, Buffer.concat([Buffer.from([0xff, 0xfe]), le]), Buffer.concat([Buffer.from([0xfe, 0xff]), be])]) {
    for (const [ename, engine] of engines) {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: `powershell -EncodedCommand ${bytes.toString('base64')}` }] })), pol);
      assert.deepEqual(r.findings.map((f) => f.type), ['github_token'], ename);
    }
  }
});

/** `od -c` (with `addresses`: octal offsets, as GNU od writes them; without: `od -An -c`), 16 bytes a line. */
function odC(text: string, addresses = true): string {
  const bytes = Buffer.from(text);
  const esc: Record<number, string> = { 0: '\\0', 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const fields = [...bytes.subarray(at, at + 16)].map((b) => (esc[b] ?? (b >= 0x20 && b < 0x7F ? String.fromCharCode(b) : b.toString(8).padStart(3, '0'))).padStart(4, ' '));
    lines.push((addresses ? at.toString(8).padStart(7, '0') : '') + fields.join(''));
  }
  if (addresses) lines.push(bytes.length.toString(8).padStart(7, '0'));
  return lines.join('\n') + '\n';
}

test('odC writes what GNU od -c writes', () => {
  assert.equal(odC('ssn 536-22-8143 ok\n'), '0000000   s   s   n       5   3   6   -   2   2   -   8   1   4   3    \n0000020   o   k  \\n\n0000023\n');
  assert.equal(odC('é\u0001', false), ' 303 251 001\n');
});

const odDumps: Array<[string, string, string[]]> = [
  // name, text, decoded blocks
  ['od -c with offsets, a value across lines', odC('customer ssn 536-22-8143 ok\n'), ['customer ssn 536-22-8143 ok\n']],
  ['od -An -c', odC('key AKIAQYLPMN5HHHFPZAM2\n', false), ['key AKIAQYLPMN5HHHFPZAM2\n']],
  ['octal bytes and escapes', odC('jane@exämple.de\tx\n'), ['jane@exämple.de\tx\n']],
  ['trailing spaces trimmed from the lines', odC('ssn 536-22-8143 for the file\n').replace(/ +\n/g, '\n'), ['ssn 536-22-8143 for the file\n']],
  ['after a prompt line', `$ od -c notes.txt\n${odC('ssn 536-22-8143 ok\n')}`, ['ssn 536-22-8143 ok\n']],
  ['spaced-out text with no three characters in a row is not read', '   a       b       c       d   \n', []],
  ['code indented by 4 spaces is not read', '    if (x) {\n        return y;\n    }\n', []],
];
for (const [name, text, want] of odDumps) {
  test(`charDumps: ${name}`, () => {
    assert.deepEqual(charDumps(text).map((d) => Buffer.from(d.hex, 'hex').toString('utf8')), want);
  });
}

const odBodies: Array<[string, string, string[]]> = [
  // name, chat message, findings (type:action)
  ['an SSN in od -c output', `here:\n${odC('customer ssn 536-22-8143 ok\n')}`, ['us_ssn:block']],
  ['an AWS key in od -An -c output', odC('key AKIAQYLPMN5HHHFPZAM2\n', false), ['aws_access_key_id:block']],
  ['a honeytoken in od -c output', odC('WARDEN-CANARY-5e1d0b77\n'), ['honeytoken:block']],
  ['od -c of clean text', odC('just some text, nothing in it\n'), []],
];
for (const [name, content, findings] of odBodies) {
  for (const [ename, engine] of engines) {
    test(`od -c dumps (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content }] })), pol);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
      assert.equal(r.decision, findings.length > 0 ? 'block' : 'allow');
    });
  }
}

test('charDumps reads an `od -An -c` dump of 200,000 lines (the widest line was found by spreading every line into Math.max: a RangeError)', () => {
  const line = '   h   e   l   l   o       w   o   r   l   d   !  \\n   a   b   c\n';
  const dumps = charDumps(line.repeat(200_000));
  assert.equal(dumps.length, 1);
  assert.equal(Buffer.from(dumps[0]!.hex.slice(0, 32), 'hex').toString('latin1'), 'hello world!\nabc');
});

/**
 * Bytes written out as numbers (decode-bytes.ts; red team, session 14, F8): a `.env` serialised
 * by `JSON.stringify(buffer)`, Python's `list(data)`, a printed Uint8Array, `xxd -i` or
 * `console.log(buffer)` passed every view.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byteLists } from '../../../proxy/dlp/decode-bytes.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

const ENV = Buffer.from('GITHUB_TOKEN=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\n');
const hex = (x: number): string => `0x${x.toString(16).padStart(2, '0')}`;
const forms: Array<[string, string]> = [
  ['JSON.stringify(buffer)', JSON.stringify(ENV)],
  ['Python list(data)', `[${[...ENV].join(', ')}]`],
  ['a Uint8Array printed by Node', `Uint8Array(${ENV.length}) [\n  ${[...ENV].join(',\n  ')}\n]`],
  ['xxd -i', `unsigned char env[] = {\n  ${[...ENV].map(hex).join(', ')}\n};`],
  ['console.log(buffer)', `<Buffer ${[...ENV].map((x) => x.toString(16).padStart(2, '0')).join(' ')}>`],
];

test('byteLists reads each form, and leaves numbers that are not bytes of text alone', () => {
  for (const [name, text] of forms) assert.deepEqual(byteLists(`x ${text} y`).map((l) => l.bytes.toString()), [ENV.toString()], name);
  for (const text of [
    '[1, 2, 3]', // too short
    `[${Array.from({ length: 40 }, (_, i) => i * 6).join(', ')}]`, // values past 255
    `[${Array.from({ length: 40 }, (_, i) => (i * 37) % 256).join(', ')}]`, // binary, not text
    `[${Array.from({ length: 40 }, () => '0.5').join(', ')}]`, // not integers
    '<Buffer 00 ff 10 80 7f 01 02 03 04 05 06 07 08 09 0a 0b 0c>',
  ]) {
    assert.deepEqual(byteLists(text), [], text);
  }
});

const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

for (const [name, text] of forms) {
  for (const [ename, engine] of engines) {
    test(`a token written as bytes is found: ${name} in a tool result (${ename})`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'tool', content: text }] })), pol);
      assert.deepEqual([r.decision, r.findings.map((f) => f.type)], ['block', ['github_token']]);
    });
  }
}

for (const [ename, engine] of engines) {
  test(`a token written as bytes is found: a JSON body that is JSON.stringify(buffer) (${ename})`, () => {
    const r = engine.inspect(request(JSON.stringify({ file: ENV })), pol);
    assert.deepEqual([r.decision, r.findings.map((f) => f.type)], ['block', ['github_token']]);
  });
}

/**
 * Shapes of PII the patterns missed (red team, session 14, F11): IBANs in lower or mixed case,
 * e-mail addresses with letters outside ASCII. Through inspect(), with the real detectors, on
 * the default engine and on the full path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const cases: Array<[string, string, string, string[]]> = [
  // name, chat message, the value, findings (type:action)
  ['a lower-case IBAN', 'pay to gb82west12345698765432 today', 'gb82west12345698765432', ['iban:redact']],
  ['a lower-case IBAN in groups', 'iban de89 3704 0044 0532 0130 00', 'de89 3704 0044 0532 0130 00', ['iban:redact']],
  ['a lower-case German IBAN without spaces (hex letters only)', 'de89370400440532013000', 'de89370400440532013000', ['iban:redact']],
  ['a mixed-case IBAN', 'Gb82West12345698765432', 'Gb82West12345698765432', ['iban:redact']],
  ['an IBAN with an upper-case country and a lower-case bank code', 'GB82 west 1234 5698 7654 32', 'GB82 west 1234 5698 7654 32', ['iban:redact']],
  ['an IBAN whose case changes inside a group', 'LV80 bANK 0000 4351 9500 1', 'LV80 bANK 0000 4351 9500 1', []],
  ['a lower-case IBAN that fails mod-97', 'gb82west12345698765433', 'gb82west12345698765433', []],
  ['an e-mail domain with diacritics', 'write to jane@exämple.de please', 'jane@exämple.de', ['email:redact']],
  ['an e-mail with diacritics on both sides of @', 'jörg.müller@bücher.de', 'jörg.müller@bücher.de', ['email:redact']],
  ['an e-mail domain in punycode', 'jane@xn--exmple-cua.de', 'jane@xn--exmple-cua.de', ['email:redact']],
  ['an e-mail in Chinese under an IDN TLD', '联系 用户@例子.公司 谢谢', '用户@例子.公司', ['email:redact']],
  ['an IDN e-mail domain under no TLD', 'jane@exämple.nosuchtld', 'jane@exämple.nosuchtld', []],
];
for (const [name, content, value, findings] of cases) {
  for (const [ename, engine] of engines) {
    test(`PII shapes (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content }] })), pol);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
      assert.equal(r.decision, findings.length > 0 ? 'redact' : 'allow');
      // Redacted in place: the value is gone from the body sent upstream (no value printed).
      if (findings.length > 0) assert.equal(r.body?.toString('utf8').includes(value), false);
    });
  }
}

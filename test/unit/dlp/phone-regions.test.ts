/**
 * National-format phone numbers are asked of one region per calling code (validators/pii.ts):
 * the premise, checked against the library, and numbers of the region left out still found.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { mayBeValidIn, NANP_REGIONS, PHONE_REGIONS } from '../../../proxy/dlp/validators/pii.js';
import { prng } from './inspect-helpers.js';

test('phone regions: US and CA agree on every number written without +', () => {
  const rand = prng(5);
  const digit = (): string => String(Math.floor(rand() * 10));
  const seps = ['', ' ', '-', '.'];
  for (let n = 0; n < 1500; n++) {
    let d = '';
    const len = 7 + Math.floor(rand() * 9);
    for (let i = 0; i < len; i++) d += digit();
    if (rand() < 0.2) d = `1${d.slice(1)}`;
    if (rand() < 0.1) d = `011${d.slice(3)}`;
    // Real NANP area codes too, so that valid numbers are among the samples.
    if (rand() < 0.3) d = `${['416', '604', '212', '415', '876', '441'][Math.floor(rand() * 6)]}${d.slice(3, 10).padEnd(7, '7')}`;
    let v = '';
    for (let i = 0; i < d.length; i++) v += d.charAt(i) + (i < d.length - 1 && rand() < 0.25 ? seps[Math.floor(rand() * seps.length)] ?? '' : '');
    assert.equal(isValidPhoneNumber(v, 'US'), isValidPhoneNumber(v, 'CA'), v);
  }
});

test('phone regions: one per calling code, and Canadian numbers are still found', () => {
  assert.deepEqual(NANP_REGIONS, ['US']);
  assert.ok(!PHONE_REGIONS.includes('CA'));
  const d = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  for (const text of ['call the Toronto office at 416-979-5000 today', 'Vancouver: phone (604) 683-2000', 'tel 1 416 979 5000']) {
    const types = d.scan({ text, where: 'body', key: null }, null).map((m) => m.type);
    assert.ok(types.includes('phone'), `${text}: ${types.join(',')}`);
  }
});

test('phone pre-reject never rejects a number libphonenumber accepts (validators/pii.ts PhonePlan)', () => {
  const rand = prng(17);
  const digits = (n: number): string => Array.from({ length: n }, () => String(Math.floor(rand() * 10))).join('');
  // National shapes, with the prefixes the parser treats apart: trunk 0, NANP 1, calling codes
  // written without +, IDD prefixes (00, 011, 010), carrier and special prefixes (GB 180020, AU 1831, CN 1xx).
  const heads = ['', '', '', '0', '1', '00', '011', '010', '44', '49', '33', '91', '972', '39', '34', '61', '86', '180020', '1831', '17951'];
  let rejected = 0;
  let checked = 0;
  for (let n = 0; n < 1500; n++) {
    const head = heads[Math.floor(rand() * heads.length)] ?? '';
    const d = (head + digits(7 + Math.floor(rand() * 9))).slice(0, 15);
    for (const region of PHONE_REGIONS) {
      if (mayBeValidIn(d, region)) continue;
      rejected++;
      checked++;
      assert.equal(isValidPhoneNumber(d, region), false, `${region} ${d}`);
    }
  }
  // And real numbers, which must get through.
  for (const [d, region] of [['2125550187', 'US'], ['02079460958', 'GB'], ['03012345678', 'DE'], ['0142685300', 'FR'], ['0312345678', 'JP'], ['0298765432', 'AU']] as const) {
    assert.ok(isValidPhoneNumber(d, region), `${region} ${d} (premise)`);
    assert.ok(mayBeValidIn(d, region), `${region} ${d}`);
  }
  assert.ok(checked > 3000, `the pre-reject should reject most random candidates somewhere (${rejected})`);
});

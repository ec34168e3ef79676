/**
 * National-format phone numbers are asked of one region per calling code (validators/pii.ts):
 * the premise, checked against the library, and numbers of the region left out still found.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { NANP_REGIONS, PHONE_REGIONS } from '../../../proxy/dlp/validators/pii.js';
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

/**
 * The client's X-Request-Id is recorded in plaintext in every audit record of its request, so
 * an id in which a detector finds a secret, PII or a honeytoken is replaced.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { sensitiveSpans, sensitiveTo } from '../../../proxy/dlp/sensitive.js';
import { requestIdFrom } from '../../../proxy/server/context.js';

const HONEY = 'WARDEN-CANARY-2c9e4b7a1d3f';
const detectors = compileDetectors({ honeytokens: [{ id: 'h', value: HONEY, sha256: null }], fingerprintKey: Buffer.alloc(32) });

test('X-Request-Id: kept when it is a plain id, replaced when it is not', () => {
  const cases: [string, string | string[] | undefined, boolean][] = [
    ['a UUID', '3f2b8c1e-9d4a-4e6b-8a7c-1b2c3d4e5f60', true],
    ['a UUID whose last group is decimal and Luhn-valid', '1d7f54f6-6abd-42df-8250-683913100601', true],
    ['a short label', 'dlp-ssn', true],
    ['a ULID-like id', '01J9ZQ4X8M2K7P3R5T6V8W0Y1Z', true],
    ['the first of two', ['req-1', 'req-2'], true],
    ['a honeytoken', HONEY, false],
    ['an AWS access key id', 'AKIAQWERTYUIOPASDFGH', false],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', false],
    ['an SSN', '536-22-8143', false],
    ['an SSN, hex-encoded', Buffer.from('the ssn is 536-22-8143').toString('hex'), false],
    ['a honeytoken, hex-encoded', Buffer.from(HONEY).toString('hex'), false],
    ['a honeytoken, base64url-encoded', Buffer.from(`x ${HONEY}`).toString('base64url'), false],
    ['an AWS access key id, base64 then hex', Buffer.from(Buffer.from('AKIAQWERTYUIOPASDFGH').toString('base64')).toString('hex'), false],
    ['a honeytoken, base64 twice', Buffer.from(Buffer.from(HONEY).toString('base64')).toString('base64url'), false],
    ['a hex digest', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', true],
    ['a character outside the alphabet', 'req 1', false],
    ['longer than 128', 'a'.repeat(129), false],
    ['absent', undefined, false],
  ];
  for (const [name, value, kept] of cases) {
    const id = requestIdFrom(value === undefined ? {} : { 'x-request-id': value }, sensitiveTo(sensitiveSpans(detectors)));
    const sent = Array.isArray(value) ? value[0] : value;
    assert.equal(id === sent, kept, name);
    if (!kept) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `${name}: a fresh UUID`);
  }
});

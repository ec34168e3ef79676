/**
 * Safe renderings of a matched value: the masked audit sample, the redaction replacement and
 * the keyed fingerprint. None of them allows reconstructing the value.
 */
import { createHmac } from 'node:crypto';
import type { Match } from './types.js';

/** Mask every digit but the last four, keeping separators: `****-****-****-1111`. */
function maskDigitsKeepLast4(value: string): string {
  const total = value.replace(/\D/g, '').length;
  let seen = 0;
  let out = '';
  for (const ch of value) {
    if (ch >= '0' && ch <= '9') {
      seen++;
      out += seen > total - 4 ? ch : '*';
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Masked sample for audit. Cards and SSN-like ids keep their last 4 digits and separator shape;
 * other values keep at most 4 leading and 4 trailing characters of long values (≥ 20), 2 and 2
 * of medium ones (≥ 12) and nothing of short ones. Star runs are capped so length leaks little.
 */
export function maskMatch(match: Pick<Match, 'type' | 'value'>): string {
  const v = match.value;
  switch (match.type) {
    case 'credit_card':
    case 'us_ssn':
    case 'us_itin':
      return maskDigitsKeepLast4(v);
    case 'honeytoken':
    case 'archive':
    case 'private_key':
      return v.length >= 20 ? `${v.slice(0, 4)}****` : '****';
    default: {
      const chars = [...v];
      const n = chars.length;
      const keep = n >= 20 ? 4 : n >= 12 ? 2 : 0;
      const stars = '*'.repeat(Math.min(Math.max(n - 2 * keep, 4), 16));
      if (keep === 0) return stars;
      return chars.slice(0, keep).join('') + stars + chars.slice(n - keep).join('');
    }
  }
}

/** Redaction text: cards keep only their last 4 digits, everything else `[REDACTED:<type>]`. */
export function replacementFor(match: Pick<Match, 'type' | 'value'>): string {
  if (match.type === 'credit_card') return maskDigitsKeepLast4(match.value);
  return `[REDACTED:${match.type}]`;
}

/** HMAC-SHA256 of the value under the deployment key, first 16 hex characters. */
export function fingerprintValue(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16);
}

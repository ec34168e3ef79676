/**
 * PII validators: cards, national ids, bank numbers, network identifiers, email, phone,
 * wallets. Each rejects what its format cannot be (ranges, checksums, boundaries) so that a
 * regex candidate becomes a finding only when it can be the real thing.
 */
import { isIP, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { getCountries, getCountryCallingCode, isValidPhoneNumber, Metadata, type CountryCode } from 'libphonenumber-js/max';
import { abaValid, base58CheckValid, bech32Valid, ibanMod97Valid, luhnValid, nhsValid } from '../checksums.js';
import { isRepeatedChar } from '../entropy.js';
import { leftBoundaryOk, rightBoundaryOk } from '../boundaries.js';
import { TLDS } from '../tlds.js';
import type { ScanBudget } from '../types.js';
import { ACCEPT, type Validator, type ValidatorInput, type Verdict } from './types.js';

/**
 * Card IIN ranges and lengths (DLP.md §2.1). UATP (`1`) only at 15 digits, which keeps
 * 13-digit epoch-ms and 16/19-digit µs timestamps and snowflake ids out (trap 1).
 */
export function cardBrand(d: string): string | null {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === '4' && (n === 13 || n === 16 || n === 19)) return 'visa';
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n === 16) return 'mastercard';
  if ((p2 === 34 || p2 === 37) && n === 15) return 'amex';
  if ((p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925)) && n >= 16 && n <= 19) return 'discover';
  if (p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19) return 'jcb';
  if (((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) && n >= 14 && n <= 19) return 'diners';
  if ((p2 === 62 || p2 === 81) && n >= 16 && n <= 19) return 'unionpay';
  if ((p2 === 50 || (p2 >= 56 && p2 <= 69)) && n >= 12 && n <= 19) return 'maestro';
  if (d[0] === '1' && n === 15) return 'uatp';
  return null;
}

/** Well-known public test PANs: detected, but downgraded to `log` (trap 3). */
export const TEST_PANS: ReadonlySet<string> = new Set([
  '4111111111111111', '4242424242424242', '4012888888881881', '4222222222222', '4000056655665556',
  '4000000000000002', '4917610000000000', '5555555555554444', '5105105105105100', '5200828282828210',
  '2223003122003222', '378282246310005', '371449635398431', '378734493671000', '6011111111111117',
  '6011000990139424', '6011000400000000', '3530111333300000', '3566002020360505', '30569309025904',
  '38520000023237', '36227206271667', '6200000000000005', '6759649826438453',
]);

/** Separator groupings a human writes a PAN in: 4-4-4-4(-3), 4-6-5, 4-6-4, 4-4-4-x. */
function groupingOk(groups: readonly string[]): boolean {
  if (groups.length === 1) return true;
  const lens = groups.map((g) => g.length);
  const key = lens.join('-');
  if (key === '4-6-5' || key === '4-6-4') return true;
  for (let i = 0; i < lens.length - 1; i++) if (lens[i] !== 4) return false;
  const last = lens[lens.length - 1] ?? 0;
  return last >= 1 && last <= 4;
}

/**
 * Checked as a PAN: one separator throughout (`-`, `.`, `/`, `_`, a space or tab or two, ` - `;
 * the pattern finds the groups), human grouping, IIN and length, Luhn.
 */
function checkCard(value: string): 'ok' | 'test' | 'weak' | null {
  const seps = value.match(/\D+/g);
  if (seps !== null && !seps.every((s) => s === seps[0])) return null;
  const groups = value.split(/\D+/);
  if (!groupingOk(groups)) return null;
  const digits = groups.join('');
  if (digits.length < 12 || digits.length > 19 || isRepeatedChar(digits)) return null;
  const brand = cardBrand(digits);
  if (brand === null || !luhnValid(digits)) return null;
  if (TEST_PANS.has(digits)) return 'test';
  return brand === 'maestro' && digits.length <= SHORT_MAESTRO_MAX && groups.length === 1 ? 'weak' : 'ok';
}

/**
 * Maestro is the one brand issued at 12-15 digits whose prefixes (50, 56-69) cover 15% of all
 * numbers: 1 random 12-digit number in ~70 reads as a Luhn-valid Maestro PAN. Agents send such
 * numbers all the time (AWS account ids in every ARN, order and tracking numbers), and Maestro
 * cards that short are all but gone. Written as one run of digits, they are `low` confidence
 * (logged, not redacted) unless a card word is near, which lifts them to `medium` (matcher.ts).
 */
const SHORT_MAESTRO_MAX = 15;

function cardVerdict(r: 'ok' | 'test' | 'weak', start: number, end: number): Verdict {
  if (r === 'test') return { start, end, action: 'log', confidence: 'low' };
  return r === 'weak' ? { start, end, confidence: 'low' } : { start, end };
}

const HEX_OR_DASH = /[0-9A-Fa-f-]/;
const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/**
 * Whether [start, end) lies inside a UUID. An agent's requests carry them everywhere (tool-call,
 * message and request ids), and the last group is 12 hex digits that are sometimes all decimal:
 * about 1 UUID in 20,000 then reads as a Luhn-valid 12-digit Maestro number, and redacting it
 * would break the id.
 */
function insideUuid(text: string, start: number, end: number): boolean {
  let a = start;
  let b = end;
  while (a > 0 && start - a < 36 && HEX_OR_DASH.test(text[a - 1]!)) a--;
  while (b < text.length && b - end < 36 && HEX_OR_DASH.test(text[b]!)) b++;
  return b - a === 36 && UUID.test(text.slice(a, b));
}

/** Credit card: separators, grouping, IIN/length, Luhn, digit-run boundaries; test PANs → log. */
export const creditCard: Validator = (c) => {
  if (insideUuid(c.text, c.start, c.end)) return null;
  const tryAt = (s: number, e: number): Verdict | null => {
    if (!leftBoundaryOk(c.text, s, 'digits') || !rightBoundaryOk(c.text, e, 'digits')) return null;
    const sep = /\D+/.exec(c.text.slice(s, e))?.[0];
    if (sep !== undefined && (insideDigitGroups(c.text, s, e, sep) || gluedBySep(c.text, s, e, sep))) return null;
    const r = checkCard(c.text.slice(s, e));
    return r === null ? null : cardVerdict(r, s, e);
  };
  const direct = tryAt(c.start, c.end);
  if (direct !== null) return direct;
  // A greedy candidate can swallow a neighbouring number group ("ref 7 4111 …"): retry
  // without the first or the last separated group before giving up.
  // Only across a space or a dash, as people write a number beside a card: `0.4556737586899855`
  // is a decimal number, and a group glued by a tab or two spaces is a column of the same table.
  const seps = [...c.value.matchAll(/\D+/g)].filter((m) => m[0] === ' ' || m[0] === '-');
  const first = seps[0];
  if (first !== undefined && first.index > 0 && first.index <= 4) {
    const after = first.index + first[0].length;
    const r = checkCard(c.value.slice(after));
    if (r !== null && rightBoundaryOk(c.text, c.end, 'digits')) return cardVerdict(r, c.start + after, c.end);
  }
  const last = seps.at(-1);
  if (last !== undefined && c.value.length - (last.index + last[0].length) <= 4) return tryAt(c.start, c.start + last.index);
  return null;
};

/** SSN samples that were published and never issued (and `123456789`). */
const SSN_SAMPLES: ReadonlySet<string> = new Set(['123456789', '078051120', '219099999', '457555462']);

function ssnDigitsOk(d: string): boolean {
  if (d.length !== 9 || isRepeatedChar(d) || SSN_SAMPLES.has(d)) return false;
  const area = Number(d.slice(0, 3));
  const group = Number(d.slice(3, 5));
  const serial = Number(d.slice(5));
  // 9xx is ITIN space, 666 and 000 were never issued (trap 5).
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** US SSN: issuable area/group/serial, not a published sample, digit-run boundaries. */
export const usSsn: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  // Written with separators: the same one twice (`536-22-8143`, `536 22 8143`, `536/22/8143`).
  const seps = c.value.match(/\D+/g);
  if (seps !== null && (seps.length !== 2 || seps[0] !== seps[1])) return null;
  if (seps !== null && gluedBySep(c.text, c.start, c.end, seps[0]!)) return null;
  if (!ssnDigitsOk(c.value.replace(/\D/g, ''))) return null;
  // Nine digits in a 3-2-4 shape say little beyond the area and group ranges: written with a
  // separator people rarely use for an SSN (`/`, `_`, a tab, two spaces), it counts only beside
  // a hotword, and is logged otherwise.
  const usual = seps === null || seps[0] === '-' || seps[0] === ' ' || seps[0] === '.';
  return usual || c.hasContext ? ACCEPT : { confidence: 'low' };
};

/** US ITIN: 9xx area with the ITIN group ranges (checked by the regex), digit-run boundaries. */
export const usItin: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  const d = c.value.replace(/\D/g, '');
  return d.length === 9 && d[0] === '9' && !isRepeatedChar(d.slice(5)) ? ACCEPT : null;
};

/** IBAN lengths per country (SWIFT IBAN registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
  // Partial-participation countries (French/Portuguese-zone banks).
  AO: 25, BF: 28, BJ: 28, CF: 27, CG: 27, CI: 28, CM: 27, CV: 25, DZ: 26, GA: 27, GQ: 27, GW: 25,
  HN: 28, IR: 26, KM: 27, MA: 28, MG: 27, ML: 28, MZ: 25, NE: 28, SN: 28, TD: 27, TG: 28,
};

/** True when the compact IBAN has its country's length and passes mod-97. */
export function ibanValid(compact: string): boolean {
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  return len !== undefined && compact.length === len && ibanMod97Valid(compact);
}

/** IBAN: country length + mod-97; on failure retry with trailing groups trimmed (longest first). */
export const iban: Validator = (c) => {
  let value = c.value;
  for (let attempt = 0; attempt < 3; attempt++) {
    const seps = value.match(/[ -]/g);
    const sepsOk = seps === null || seps.every((s) => s === seps[0]);
    if (sepsOk && ibanValid(value.replace(/[ -]/g, '')) && rightBoundaryOk(c.text, c.start + value.length, 'alnum')) {
      return { end: c.start + value.length };
    }
    const cut = Math.max(value.lastIndexOf(' '), value.lastIndexOf('-'));
    if (cut <= 4) return null;
    value = value.slice(0, cut);
  }
  return null;
};

/**
 * IBAN with a lower-case letter (pii.yaml iban_any_case): as `iban` on the upper-cased value. Case
 * changing inside a word (`bANK`, `wEST`) is nobody's way of writing one (presidio's test set
 * calls `LV80 bANK 0000 4351 9500 1` no IBAN); `gb82west…`, `Gb82West…` and `GB82 west …` are.
 */
export const ibanAnyCase: Validator = (c) => {
  if (!/[a-z]/.test(c.value) || /[a-z][A-Z]/.test(c.value)) return null;
  return iban({ ...c, value: c.value.toUpperCase() });
};

/** ABA routing number: 3-7-1 checksum, Federal Reserve prefix, not a known SSN sample. */
export const abaRouting: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  const d = c.value.replace(/\D/g, '');
  if (!abaValid(d) || isRepeatedChar(d) || SSN_SAMPLES.has(d)) return null;
  const p = Number(d.slice(0, 2));
  if (!((p >= 0 && p <= 12) || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p === 80)) return null;
  return c.hasContext ? { confidence: 'medium' } : ACCEPT;
};

/**
 * UK NHS number: mod-11. Without the `nhs` hotword a 10-digit number that is also a valid
 * North American phone number is left to the phone detector (trap 7 runs both ways).
 */
export const ukNhs: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  const seps = c.value.match(/[ -]/g);
  if (seps !== null && (seps.length !== 2 || seps[0] !== seps[1])) return null;
  const d = c.value.replace(/\D/g, '');
  if (!nhsValid(d) || isRepeatedChar(d)) return null;
  if (c.hasContext) return { confidence: 'medium' };
  // Unseparated 10-digit runs from 15… to 19… are epoch seconds (2017-2033) far more often.
  if (seps === null && /^1[5-9]/.test(d)) return null;
  if (validInSomeRegion(d, NANP_REGIONS, c.budget)) return null;
  return ACCEPT;
};

/** Bitcoin address: base58check (P2PKH/P2SH) or bech32/bech32m checksum. */
export const cryptoWallet: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'alnum') || !rightBoundaryOk(c.text, c.end, 'alnum')) return null;
  const v = c.value;
  if (v.startsWith('bc1') || v.startsWith('tb1')) return bech32Valid(v) ? ACCEPT : null;
  return base58CheckValid(v) ? ACCEPT : null;
};

/** Does `text` hold `scheme://` userinfo ending right before `at` (the email's start)? */
function isUrlUserinfo(text: string, at: number): boolean {
  for (let i = at - 1, n = 0; i >= 0 && n < 512; i--, n++) {
    const ch = text[i];
    if (ch === undefined || ch === ' ' || ch === '\n' || ch === '\t' || ch === '"' || ch === '\'' || ch === '<') return false;
    if (ch === '/') return text[i - 1] === '/' && text[i - 2] === ':';
  }
  return false;
}

/** Email: no `..` in the local part, TLD exists, not URL userinfo (trap 8). */
export const email: Validator = (c) => {
  const v = c.value;
  const atPos = v.lastIndexOf('@');
  if (atPos <= 0) return null;
  const local = v.slice(0, atPos);
  if (local.includes('..') || local.startsWith('.') || local.endsWith('.')) return null;
  const domain = v.slice(atPos + 1).toLowerCase();
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  if (!TLDS.has(tld)) return null;
  if (isUrlUserinfo(c.text, c.start)) return null;
  // `user:password@host` written without a scheme: the "local part" follows a colon. Not after
  // a mail scheme or label (`mailto:`, `To:`, `Email:`), where it is the address itself.
  const before = c.text[c.start - 1];
  if (before === ':' && /[A-Za-z0-9._%+-]$/.test(c.text.slice(Math.max(0, c.start - 2), c.start - 1))
    && !MAIL_LABEL.test(c.text.slice(Math.max(0, c.start - 24), c.start))) return null;
  return ACCEPT;
};

/**
 * Email with letters outside ASCII (pii.yaml email_idn; red team, session 14, F11): `jane@exämple.de`,
 * `用户@例子.公司`. The domain is checked in its punycode form (`xn--exmple-cua.de`), as a mail
 * server reads it: it must convert (IDNA) and its TLD exist. All-ASCII values are the email
 * pattern's.
 */
export const emailIdn: Validator = (c) => {
  if (!/[^\x00-\x7F]/.test(c.value)) return null;
  const atPos = c.value.lastIndexOf('@');
  if (atPos <= 0) return null;
  const domain = domainToASCII(c.value.slice(atPos + 1));
  if (domain === '') return null;
  return email({ ...c, value: `${c.value.slice(0, atPos)}@${domain}` });
};

/** A word before `:` that makes what follows an address: a URI scheme or a mail header's name. */
const MAIL_LABEL = /(?:^|[^A-Za-z0-9._%+-])(?:mailto|sips?|xmpp|to|from|cc|bcc|reply-to|sender|recipient|e-?mail|mail|contact):$/i;

/**
 * One region per calling code. For a number written without `+`, libphonenumber finds the
 * country within the default region's calling code from the number itself, so `US` and `CA`
 * (both +1) always agree, and +1 is the dearest to ask (~120 µs a digit run that is not a phone,
 * against ~20 for most regions: it tries the 25 NANP countries' patterns). Asking both cost a
 * quarter of a national-format phone check; the test `phone regions: US and CA agree` keeps the
 * premise checked against the library.
 */
export const NANP_REGIONS: readonly CountryCode[] = ['US'];

/**
 * True when `sep`, a separator other than one space or a dash, also joins the span to an
 * alphanumeric neighbour: a path (`/files/536/22/8143`), a dotted or underscored name, a row of
 * a tab-separated table. A space or a dash between a label and a number is ordinary prose
 * (`id 536 90 4399`), and stays allowed.
 */
function gluedBySep(text: string, start: number, end: number, sep: string): boolean {
  if (sep === ' ' || sep === '-') return false;
  const b = start - sep.length;
  const before = b >= 1 && text.slice(b, start) === sep && /[A-Za-z0-9]/.test(text[b - 1] ?? '');
  const after = text.slice(end, end + sep.length) === sep && /[A-Za-z0-9]/.test(text[end + sep.length] ?? '');
  return before || after;
}

/**
 * True when the span is one part of a longer run of digit groups joined by `sep` (a space by
 * default: `AL47 2121 1009 0000 …`, card or IBAN groups; a card's own separator, so a row of a
 * tab-separated table of 4-digit numbers is not read as a card): the neighbour group glues it
 * to the run.
 */
export function insideDigitGroups(text: string, start: number, end: number, sep = ' '): boolean {
  const before = text.slice(Math.max(0, start - 5 - sep.length), start);
  const after = text.slice(end, end + 5 + sep.length);
  const group = '(?=[A-Za-z0-9]{0,3}\\d)[A-Za-z0-9]{1,4}';
  const s = sep.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`(?:^|\\s)${group}${s}$`).test(before) || new RegExp(`^${s}${group}(?:\\s|$)`).test(after);
}

export const PHONE_REGIONS: readonly CountryCode[] = ['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'IL', 'JP', 'CN', 'IT', 'ES', 'AU'];

/**
 * Cost of one libphonenumber validity check, in scan budget units (~µs; types.ts ScanBudget).
 * Measured 6-150 µs a region (US, which tries the 25 NANP countries' patterns, is the dearest;
 * ~25 on average), against ~10 for a regex hit with a cheap validator (matcher.ts HIT_COST).
 */
export const PHONE_LOOKUP_COST = 25;

/** What libphonenumber keeps per numbering plan beyond its typed API (read once, at load). */
interface PlanInternals {
  nationalNumberPattern(): string;
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  IDDPrefix(): string;
}

/**
 * A necessary condition for `isValidPhoneNumber(v, region)` on a national-format value (digits
 * only), or null where none is derived (a transform rule for the national prefix: BR, JP).
 * libphonenumber parses such a value as: the region's IDD prefix and an international number
 * (we then never reject), or a national significant number (NSN) that is the digits, the digits
 * after a national prefix (a match of `nationalPrefixForParsing` at the start), after the
 * calling code written without `+`, or after both; and it is valid only if the NSN matches the
 * `nationalNumberPattern` of a country of that calling code (getNumberType checks it first;
 * getCountryByNationalNumber picks among those countries). So: if none of those NSNs matches the
 * union of those patterns, the library says invalid, without the ~6-150 µs it takes to say so.
 * The test `phone pre-reject never rejects a number libphonenumber accepts` checks the premise.
 */
export interface PhonePlan {
  readonly idd: RegExp;
  readonly prefix: RegExp | null;
  readonly callingCode: string;
  readonly nsn: RegExp;
}

function phonePlan(region: CountryCode): PhonePlan | null {
  try {
    const m = new Metadata();
    m.selectNumberingPlan(region);
    const plan = m.numberingPlan as unknown as PlanInternals | undefined;
    if (plan === undefined || plan.nationalPrefixTransformRule()) return null;
    const callingCode = getCountryCallingCode(region);
    const patterns: string[] = [];
    for (const c of getCountries()) {
      if (getCountryCallingCode(c) !== callingCode) continue;
      m.selectNumberingPlan(c);
      patterns.push((m.numberingPlan as unknown as PlanInternals).nationalNumberPattern());
    }
    const npfp = plan.nationalPrefixForParsing();
    return {
      idd: new RegExp(`^(?:${plan.IDDPrefix()})`),
      // Whole prefixes that match it: libphonenumber strips the one its regex finds first.
      prefix: npfp ? new RegExp(`^(?:${npfp})$`) : null,
      callingCode,
      nsn: new RegExp(`^(?:${patterns.join('|')})$`),
    };
  } catch {
    return null; // metadata not as expected: no pre-reject, libphonenumber decides
  }
}

const PHONE_PLANS: ReadonlyMap<CountryCode, PhonePlan | null> = new Map(
  [...new Set([...PHONE_REGIONS, ...NANP_REGIONS])].map((r) => [r, phonePlan(r)]),
);

/** The NSNs `d` may stand for in `plan` (see PhonePlan), national prefix and calling code stripped. */
function nsnCandidates(d: string, plan: PhonePlan): string[] {
  const out = [d];
  const stripPrefix = (x: string): void => {
    if (plan.prefix === null) return;
    for (let k = 1; k < x.length && k <= 8; k++) if (plan.prefix.test(x.slice(0, k))) out.push(x.slice(k));
  };
  stripPrefix(d);
  if (d.startsWith(plan.callingCode)) {
    const rest = d.slice(plan.callingCode.length);
    out.push(rest);
    stripPrefix(rest);
  }
  return out;
}

/**
 * False only when libphonenumber cannot find `d` (national-format digits, ASCII, no `+`) valid
 * in `region` (see PhonePlan); true when it may.
 */
export function mayBeValidIn(d: string, region: CountryCode): boolean {
  const plan = PHONE_PLANS.get(region);
  if (plan === undefined || plan === null || plan.idd.test(d)) return true;
  return nsnCandidates(d, plan).some((nsn) => plan.nsn.test(nsn));
}

/**
 * Regions in the order they are asked: validity is "some region accepts", so the order changes
 * only the cost. Measured on 1,500 random phone-like ids of each shape (2-4-4, 3-7, 2-7, 1-3-3-4,
 * 10 digits): DE accepts ~80% of them at 10-40 µs a call and IN ~60%, while US (NANP: the 25
 * countries' patterns, 30-330 µs) and GB accept ~30% at most and cost the most; FR, ES, IL, AU
 * are mostly pre-rejected (mayBeValidIn). Asked in this order, a number valid somewhere (99% of
 * random ones) costs ~1.3 calls instead of ~4.
 */
const PHONE_RANK: readonly string[] = ['DE', 'IN', 'CN', 'JP', 'BR', 'IT', 'FR', 'ES', 'IL', 'AU', 'GB', 'US'];
const PHONE_ORDER: readonly CountryCode[] = [...PHONE_REGIONS].sort((a, b) => PHONE_RANK.indexOf(a) - PHONE_RANK.indexOf(b));

/** Values memoised per request (ScanBudget.memo); dropped past this many, so memory stays bounded. */
const PHONE_MEMO_MAX = 50_000;

/**
 * Whether some region of `regions` accepts national-format `v`, charging `budget` for each
 * libphonenumber call and memoising the answer in it: CSV columns repeat values.
 */
function validInSomeRegion(v: string, regions: readonly CountryCode[], budget: ScanBudget | undefined): boolean {
  const key = `${regions === NANP_REGIONS ? 'n' : 'a'}${v}`;
  const memo = budget?.memo;
  const known = memo?.get(key);
  if (known !== undefined) return known;
  // The pre-reject reads ASCII digits between ASCII separators only (libphonenumber also reads
  // other scripts' digits).
  const digits = /^[\d ().-]+$/.test(v) ? v.replace(/\D/g, '') : null;
  let ok = false;
  for (const r of regions === NANP_REGIONS ? NANP_REGIONS : PHONE_ORDER) {
    if (digits !== null && !mayBeValidIn(digits, r)) continue;
    if (budget !== undefined) budget.remaining -= PHONE_LOOKUP_COST;
    if (isValidPhoneNumber(v, r)) {
      ok = true;
      break;
    }
  }
  if (memo !== undefined) {
    if (memo.size >= PHONE_MEMO_MAX) memo.clear();
    memo.set(key, ok);
  }
  return ok;
}

/**
 * Phone: libphonenumber validity (E.164 with `+`, else the default regions), NANP rules come
 * with the metadata. `+` E.164 is medium confidence; others stay low (→ log) unless a hotword
 * lifts them (DLP.md §2.1: only log by default).
 */
export const phone: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  const v = c.value;
  const digits = v.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15 || isRepeatedChar(digits)) return null;
  if (/^(\d)\1{2}-?\1{3}-?\1{4}$/.test(digits)) return null;
  if (v.startsWith('+')) {
    if (c.budget !== undefined) c.budget.remaining -= PHONE_LOOKUP_COST;
    return isValidPhoneNumber(v) ? { confidence: 'medium' } : null;
  }
  // The national part of an E.164 number: phone_e164 judges the whole number.
  if (/\+\d{1,3}[ .-]?$/.test(c.text.slice(Math.max(0, c.start - 5), c.start))) return null;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(v)) return null; // dotted quad: an (invalid) IP, not a phone
  if (insideDigitGroups(c.text, c.start, c.end)) return null;
  // A 3-3-4 grouping is the North American shape: judge it by NANP rules only, so that
  // `401-023-2137` (exchange 0xx) is not rescued by another country's numbering plan.
  const regions = /^\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}$/.test(v) ? NANP_REGIONS : PHONE_REGIONS;
  if (!validInSomeRegion(v, regions, c.budget)) return null;
  return ACCEPT;
};

/** IPv4: valid dotted quad not inside a longer dotted number run on the left. */
export const ipv4: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'alnum')) return null;
  if (isIP(c.value) !== 4) return null;
  return isNonPublicV4(c.value) ? { confidence: 'low' } : ACCEPT;
};

/**
 * Private, loopback, link-local, CGNAT, documentation, multicast and unspecified ranges are
 * labelled but only logged by default (DLP.md §2.1: act on public addresses, per policy).
 */
function isNonPublicV4(ip: string): boolean {
  const [a = 0, b = 0, c = 0] = ip.split('.').map(Number);
  return a === 0 || a === 10 || a === 127 || a >= 224 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31)
    || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 192 && b === 0 && c === 2)
    || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113) || (a === 198 && (b === 18 || b === 19));
}

/**
 * IPv6: `net.isIPv6` (embedded IPv4 and `%zone` included). Bare `::` is not reported, and
 * neither is an address without a decimal digit: `Add::add`, `ace::face` or `dead::beef` are
 * valid IPv6 but, in an agent's request, Rust or C++ paths and words (redacting them broke
 * code), while real addresses carry digits (`fe80::1`, `2001:db8::`). The pack's prefilter for
 * this pattern relies on the digit (pii.yaml).
 */
export const ipv6: Validator = (c) => {
  const v = c.value;
  if (v === '::' || !leftBoundaryOk(c.text, c.start, 'alnum')) return null;
  if (!/\d/.test(v.split('%', 1)[0] ?? '')) return null;
  const next = c.text[c.end];
  if (next !== undefined && /[0-9A-Za-z:]/.test(next)) return null;
  if (next === '.' && /\d/.test(c.text[c.end + 1] ?? '')) return null;
  const prev = c.text[c.start - 1];
  if (prev === ':' ) return null;
  if (!isIPv6(v)) return null;
  // Loopback, unspecified, link-local, ULA, multicast, documentation and mapped private v4: log only.
  const low = /^(?:::1?$|::ffff:|fe[89ab]|f[cd]|ff|2001:db8)/i.test(v) || /^::[0-9.]+$/.test(v);
  return low ? { confidence: 'low' } : ACCEPT;
};

/** MAC: not all-zero, not broadcast, boundaries. */
export const macAddress: Validator = (c) => {
  if (!leftBoundaryOk(c.text, c.start, 'token') || !rightBoundaryOk(c.text, c.end, 'alnum')) return null;
  const next = c.text[c.end];
  if (next === ':' || (next === '.' && /[0-9A-Fa-f]/.test(c.text[c.end + 1] ?? ''))) return null;
  const hex = c.value.replace(/[^0-9A-Fa-f]/g, '').toLowerCase();
  if (hex === '000000000000' || hex === 'ffffffffffffffff'.slice(0, 12)) return null;
  return ACCEPT;
};

/** Date of birth: the regex gives the date; only a hotword makes it a birth date (context_required). */
export const dateOfBirth: Validator = (c: ValidatorInput) => {
  if (!leftBoundaryOk(c.text, c.start, 'digits') || !rightBoundaryOk(c.text, c.end, 'digits')) return null;
  return ACCEPT;
};

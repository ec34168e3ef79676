/**
 * A pattern's `prefilter` replaces it in the RE2.Set and must match wherever the pattern yields a
 * finding (its regex matches and the validator and filters accept), or the set would skip a body
 * holding one (the fast path would pass it unscanned). Most prefilters are supersets of the
 * regex itself; the IPv6 one covers only what its validator can accept (a digit is required).
 * Checked over the corpus, every example of every pack, and generated variants around the
 * constructs the shipped prefilters drop.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPacks } from '../../../proxy/dlp/detectors.js';
import { runPattern, type Candidate } from '../../../proxy/dlp/matcher.js';
import { Utf8Offsets } from '../../../proxy/dlp/offsets.js';
import type { CompiledPattern } from '../../../proxy/dlp/packs.js';
import { PATTERNS_DIR } from '../../../proxy/paths.js';
import { DEFAULT_CORPUS, readCorpus } from '../../bench/dlp-quality.js';

const files = readdirSync(PATTERNS_DIR).filter((f) => f.endsWith('.yaml')).map((f) => join(PATTERNS_DIR, f));
const all: CompiledPattern[] = loadPacks(files).packs.flatMap((p) => p.patterns);
const withPrefilter = all.filter((p) => p.prefilter !== p.source);

function texts(): string[] {
  const out: string[] = [];
  for (const p of all) {
    for (const e of [...p.examples.match, ...p.examples.noMatch]) out.push(typeof e === 'string' ? e : e.text);
  }
  if (existsSync(DEFAULT_CORPUS)) for (const row of readCorpus(DEFAULT_CORPUS)) out.push(row.text);
  // Edges of what the shipped prefilters drop: long and odd local parts and schemes.
  const locals = ['a', 'a.b', 'x'.repeat(63), 'x'.repeat(64), '_a', '.a', 'a-', '%', 'A1+tag', 'é', ''];
  const domains = ['example.org', 'xn--80ak6aa92e.com', 'a.b', 'host', 'a-.io', 'EXAMPLE.COM'];
  for (const l of locals) for (const d of domains) out.push(`${l}@${d}`, `mail ${l}@${d}.`, `<${l}@${d}>`);
  const schemes = ['h', 'ht', 'https', 'git+ssh', 'x'.repeat(20), 'x'.repeat(21), '1http', 'a.b-c', 'é'];
  for (const s of schemes) {
    for (const rest of ['user:pa55w0rd@host', ':secret@db', 'u:p@[::1]', 'u:@h', 'u:p@h/x', `${'u'.repeat(130)}:p@h`]) {
      out.push(`${s}://${rest}`, `see ${s}://${rest} now`);
    }
  }
  // Key-name assignments: long and odd name prefixes, separators, values at and past the bounds.
  const names = ['password', 'db_password', `${'x'.repeat(40)}_token`, `${'x'.repeat(41)}_secret`, 'API-KEY', 'client.secret', 'Auth', 'signing_key2'];
  const seps = ['=', ': ', ' => ', '":"', "' = '", ':=', ',', ' ?= '];
  const values = ['hunter22', 'Tr0ub4dor&3xyz', 'a'.repeat(512), 'b'.repeat(513), 'short', 's3cr3t-v@lue;more'];
  for (const n of names) for (const sep of seps) for (const v of values) out.push(`${n}${sep}${v}`, `{"${n}${sep}${v}"}`, `export ${n}${sep}"${v}"`);
  // Azure client secrets around the distinctive `<digit>Q~` core.
  for (const pre of ['', ' ', '"', '=', 'x', '(']) {
    for (const core of ['abc8Q~', 'a_.4Q~', 'xyzQ~', '9Q~']) {
      for (const tail of ['A'.repeat(31), 'B'.repeat(34), 'C'.repeat(30), 'D'.repeat(36)]) out.push(`${pre}${core}${tail}"`, `${pre}${core}${tail} `);
    }
  }
  // Every match example of a prefiltered pattern in other company: the vendor prefilters drop the
  // pattern's leading `\b` and boundary groups, so the context around a token must not matter.
  for (const p of withPrefilter) {
    for (const e of p.examples.match) {
      const t = typeof e === 'string' ? e : e.text;
      for (const [pre, post] of [['x', 'x'], ['_', '_'], ['\n', '\n'], ['"', '"'], ['\\n', ','], ['é', 'é'], ['0', '0']]) out.push(`${pre}${t}${post}`);
    }
  }
  return out;
}

test('the shipped packs use prefilters (this suite checks them)', () => {
  // email, password-in-URL, generic secret, and the vendor formats' literal prefixes.
  assert.ok(withPrefilter.length >= 60, `only ${withPrefilter.length} prefilters`);
});

test('every prefilter matches wherever its pattern yields a finding', () => {
  const inputs = texts();
  let checked = 0;
  for (const p of withPrefilter) {
    for (const t of inputs) {
      const buf = Buffer.from(t, 'utf8');
      p.re.lastIndex = 0;
      if (!p.re.test(buf)) continue;
      const found: Candidate[] = [];
      runPattern(p, { text: t, buf, offsets: new Utf8Offsets(buf, t), key: null }, found);
      if (found.length === 0) continue;
      checked++;
      p.prefilterRe.lastIndex = 0;
      assert.ok(p.prefilterRe.test(buf), `${p.patternId}: prefilter misses input #${inputs.indexOf(t)}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} inputs with findings: the check would prove nothing`);
});

// IPv6 is the prefilter that is not a superset of its regex: every shape of address with a
// digit, at every distance of that digit from `::`, in code-like company.
test('the IPv6 prefilter matches every address the validator accepts', () => {
  const p = all.find((x) => x.patternId.endsWith('ipv6'));
  assert.ok(p, 'ipv6 pattern');
  const groups = ['1', 'a', 'ab', 'abc', 'abcd', '12', 'a1', '1a', 'db8', '2001', 'ffff', 'fe80', '0'];
  const addresses: string[] = [];
  for (let before = 0; before <= 4; before++) {
    for (let after = 0; after <= 4; after++) {
      if (before + after > 7) continue;
      for (let k = 0; k < groups.length; k++) {
        const pick = (i: number): string => groups[(k + i * 5) % groups.length] ?? 'a';
        const left = Array.from({ length: before }, (_, i) => pick(i)).join(':');
        const right = Array.from({ length: after }, (_, i) => pick(i + before)).join(':');
        addresses.push(`${left}::${right}`, `${left}::${right === '' ? '' : right + ':'}192.0.2.${k}`);
      }
    }
  }
  addresses.push('2001:db8:85a3:8d3:1319:8a2e:370:7348', 'abcd:abcd:abcd:abcd:abcd:abcd:1.2.3.4', 'fe80::1%eth0');
  let accepted = 0;
  for (const a of addresses) {
    for (const t of [a, `ip ${a} ok`, `[${a}]:443`, `"${a}"`, `x=${a};`, `at ${a}.Next`, `(${a}%eth0)`, `${a}\n`]) {
      const buf = Buffer.from(t, 'utf8');
      const found: Candidate[] = [];
      runPattern(p, { text: t, buf, offsets: new Utf8Offsets(buf, t), key: null }, found);
      if (found.length === 0) continue;
      accepted++;
      p.prefilterRe.lastIndex = 0;
      assert.ok(p.prefilterRe.test(buf), `ipv6 prefilter misses ${JSON.stringify(t)}`);
    }
  }
  assert.ok(accepted > 500, `only ${accepted} accepted addresses`);
});

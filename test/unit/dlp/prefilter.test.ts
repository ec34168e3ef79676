/**
 * A pattern's `prefilter` replaces it in the RE2.Set and must be a superset: wherever the
 * pattern matches, the prefilter matches too, or the set would skip a body that holds a finding
 * (the fast path would pass it unscanned). Checked over the corpus, every example of every
 * pack, and generated variants around the constructs the shipped prefilters drop.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPacks } from '../../../proxy/dlp/detectors.js';
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

test('every prefilter matches wherever its pattern matches', () => {
  const inputs = texts();
  let checked = 0;
  for (const p of withPrefilter) {
    for (const t of inputs) {
      const buf = Buffer.from(t, 'utf8');
      p.re.lastIndex = 0;
      if (!p.re.test(buf)) continue;
      checked++;
      p.prefilterRe.lastIndex = 0;
      assert.ok(p.prefilterRe.test(buf), `${p.patternId}: prefilter misses input #${inputs.indexOf(t)}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} matching inputs: the check would prove nothing`);
});

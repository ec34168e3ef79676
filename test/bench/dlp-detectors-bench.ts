/**
 * Detector throughput (not part of npm test): MB/s of scan() and mightMatch() on a clean
 * 4 MiB JSON-ish body and on a body dense with findings, against a naive loop that runs every
 * pattern one at a time (no RE2.Set prefilter).
 *
 *   node .build/dlpdetect/test/bench/dlp-detectors-bench.js [--mib 4] [--rounds 5]
 */
import { compileDetectors, loadPacks } from '../../proxy/dlp/detectors.js';
import { runPattern, type Candidate } from '../../proxy/dlp/matcher.js';
import { Utf8Offsets } from '../../proxy/dlp/offsets.js';
import { PATTERNS_DIR } from '../../proxy/paths.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const WORDS = ('the quick brown fox jumps over lazy dog model prompt tool call result assistant user '
  + 'system message content function arguments weather forecast city temperature summary report '
  + 'analysis revenue quarter growth customer churn retention dashboard query table column index').split(' ');

/** Deterministic PRNG so runs are comparable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

/** Clean JSON-ish chat traffic: words, small numbers, ids, timestamps as ISO strings. */
export function cleanBody(bytes: number): string {
  const r = rng(42);
  const parts: string[] = ['{"model":"gpt-4o","messages":['];
  let len = parts[0]?.length ?? 0;
  let i = 0;
  while (len < bytes) {
    const n = 20 + Math.floor(r() * 60);
    const words: string[] = [];
    for (let k = 0; k < n; k++) words.push(WORDS[Math.floor(r() * WORDS.length)] ?? 'x');
    const msg = `{"role":"${i % 2 === 0 ? 'user' : 'assistant'}","content":"${words.join(' ')}. Page ${i % 97}, item ${Math.floor(r() * 500)}.","created":"2025-06-0${1 + (i % 9)}T12:00:00Z","tokens":${Math.floor(r() * 4000)}},`;
    parts.push(msg);
    len += msg.length;
    i++;
  }
  parts.push('{"role":"user","content":"end"}]}');
  return parts.join('').slice(0, bytes);
}

/** A body where every few hundred bytes carry a finding (synthetic values). */
export function denseBody(bytes: number): string {
  const samples = [
    'mail jane.doe@example.org now', 'card 4556 7375 8689 9855 ok', 'SSN 536-90-4399',
    'key AKIA7ZNGSOKPXYIZFMSR', 'token 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', 'ip 203.0.113.7',
    'iban GB82WEST12345698765432', 'call +44 20 7946 0958', 'password=Qw7rT2xk9Lm4vB8n',
  ];
  const clean = cleanBody(bytes);
  const out: string[] = [];
  for (let pos = 0, k = 0; pos < clean.length; pos += 400, k++) {
    out.push(clean.slice(pos, pos + 400), ' ', samples[k % samples.length] ?? '', ' ');
  }
  return out.join('').slice(0, bytes);
}

function mbps(bytes: number, ms: number): string {
  return ((bytes / (1 << 20)) / (ms / 1000)).toFixed(1);
}

/**
 * Milliseconds of CPU time (user + system) per call. CPU time rather than wall time: the
 * shared build machines run other jobs, and this process's CPU time is what one core spends.
 */
function time(fn: () => unknown, rounds: number): number {
  fn(); // warm-up
  const c0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / rounds;
}

function main(argv: readonly string[]): void {
  const arg = (name: string, def: number): number => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  const mib = arg('--mib', 4);
  const rounds = arg('--rounds', 5);
  const size = mib * (1 << 20);
  const d = compileDetectors({ honeytokens: [{ id: 'canary', value: 'WARDEN-CANARY-7f3a9c', sha256: null }], fingerprintKey: Buffer.from('bench') });
  const files = readdirSync(PATTERNS_DIR).filter((f) => f.endsWith('.yaml')).map((f) => join(PATTERNS_DIR, f));
  const patterns = loadPacks(files).packs.flatMap((p) => p.patterns);
  const naive = (text: string): number => {
    const buf = Buffer.from(text, 'utf8');
    const view = { text, buf, offsets: new Utf8Offsets(buf, text), key: null };
    const out: Candidate[] = [];
    for (const p of patterns) runPattern(p, view, out);
    return out.length;
  };
  const rows: string[] = ['| body | scan MB/s (CPU) | mightMatch MB/s (CPU) | naive loop MB/s (CPU) | findings |', '|---|---:|---:|---:|---:|'];
  for (const [name, text] of [['clean JSON', cleanBody(size)], ['dense findings', denseBody(size)]] as const) {
    const raw = Buffer.from(text, 'utf8');
    const view = { text, where: 'body', key: null };
    const found = d.scan(view, null).length;
    const tScan = time(() => d.scan(view, null), rounds);
    const tMight = time(() => d.mightMatch(raw, null), rounds);
    const tNaive = time(() => naive(text), Math.max(1, Math.floor(rounds / 2)));
    rows.push(`| ${name} (${mib} MiB) | ${mbps(raw.length, tScan)} | ${mbps(raw.length, tMight)} | ${mbps(raw.length, tNaive)} | ${found} |`);
  }
  rows.push('', `patterns: ${patterns.length}, node ${process.version}`);
  process.stdout.write(rows.join('\n') + '\n');
}

if (process.argv[1]?.endsWith('dlp-detectors-bench.js') === true) main(process.argv.slice(2));

/**
 * compileDetectors: loads the shipped and custom pattern packs, self-checks every pattern
 * against its own examples, and builds the scan engine:
 *
 *   view.text ──UTF-8 once──► RE2.Set over every pattern (+ honeytoken literals)
 *        │                        │ indices that can match
 *        │                        ▼
 *        └──────────────► individual RE2 exec loops (only those) ──► boundary / context /
 *                         validator / placeholder / entropy ──► candidates ──► span claiming
 *
 * Everything here is pure after compilation: no I/O, no clocks. Pack files are read once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RE2, type RE2SetInstance } from './re2.js';
import { PATTERNS_DIR } from '../paths.js';
import { archiveBase64Validator, base64ArchiveProbe, matchMagic } from './archives.js';
import { INTEGER_FORM_PREFILTER } from './decode-json.js';
import { BYTE_LIST_PREFILTER } from './decode-bytes.js';
import { SHORT_BARE_PREFILTER } from './decode-base64.js';
import { HEX_DUMP_PREFILTER, NUMBER_DUMP_PREFILTER, OD_DUMP_PREFILTER } from './decode-wrapped.js';
import { compileHoneytokens } from './honeytokens.js';
import { looksRandom } from './random-text.js';
import { fingerprintValue, maskMatch, replacementFor } from './mask.js';
import { runPattern, type Candidate, type PreparedView } from './matcher.js';
import { Utf8Offsets } from './offsets.js';
import {
  compileMagics, compilePack, PackError, readPackFile,
  type CompiledPattern, type ExampleSpec, type LoadedPack, type Magic,
} from './packs.js';
import type { DetectorOptions, Detectors, Match, PackSource, ScanBudget, ScanView } from './types.js';
import { VALIDATORS } from './validators/index.js';

/** Shipped packs, in load order. */
function shippedPackFiles(): string[] {
  return readdirSync(PATTERNS_DIR)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(PATTERNS_DIR, f));
}

/** The shipped packs, then `extra`, read once. */
export function readPackSources(extra: readonly string[] = []): PackSource[] {
  return [...shippedPackFiles(), ...extra].map(readPackSource);
}

function readPackSource(file: string): PackSource {
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new PackError(file, null, `cannot read or parse YAML (${(err as Error).message.split('\n')[0] ?? ''})`);
  }
}

/** Load, compile and self-check packs (file names are read here). Throws PackError naming file, pattern and example index. */
export function loadPacks(sources: readonly (string | PackSource)[]): { packs: LoadedPack[]; magics: Magic[] } {
  const raw = sources.map((p) => {
    const { file, text } = typeof p === 'string' ? readPackSource(p) : p;
    return { file, data: readPackFile(file, text) };
  });
  // Magics first: the archive validator needs the whole table, whichever pack holds it.
  const magics = raw.flatMap((r) => compileMagics(r.data));
  const validators = { ...VALIDATORS, archive_base64: archiveBase64Validator(magics) };
  const packs: LoadedPack[] = [];
  const names = new Set<string>();
  for (const { file, data } of raw) {
    if (names.has(data.pack)) throw new PackError(file, null, `pack name "${data.pack}" is already loaded`);
    names.add(data.pack);
    const pack = compilePack(file, data, validators);
    for (const p of pack.patterns) checkExamples(p);
    packs.push(pack);
  }
  return { packs, magics };
}

function exampleView(e: ExampleSpec): PreparedView {
  const text = typeof e === 'string' ? e : e.text;
  const key = typeof e === 'string' ? null : (e.key ?? null);
  const buf = Buffer.from(text, 'utf8');
  return { text, buf, offsets: new Utf8Offsets(buf, text), key };
}

/**
 * A pattern that fails its own examples does not load (STYLE.md §6). The message gives the
 * example's index, never its text: examples are secret-shaped by design.
 */
function checkExamples(p: CompiledPattern): void {
  p.examples.match.forEach((e, i) => {
    const out: Candidate[] = [];
    const view = exampleView(e);
    runPattern(p, view, out);
    if (!out.some((c) => c.type === p.type)) {
      throw new PackError(p.file, p.id, `examples.match[${i}] does not produce a ${p.type} finding`);
    }
    if (p.prefilter !== p.source) {
      p.prefilterRe.lastIndex = 0;
      if (!p.prefilterRe.test(view.buf)) throw new PackError(p.file, p.id, `prefilter does not match examples.match[${i}]`);
    }
    // What the fast path and the group prefilter test a value with must hold for the example,
    // as a view's text and as a JSON string (with its opening quote).
    if (p.valueStartRe !== null && !(p.valueStartRe.test(view.text) && p.valueStartRe.test(JSON.stringify(view.text)))) {
      throw new PackError(p.file, p.id, `value start does not match examples.match[${i}]`);
    }
  });
  p.examples.noMatch.forEach((e, i) => {
    const out: Candidate[] = [];
    runPattern(p, exampleView(e), out);
    if (out.length > 0) throw new PackError(p.file, p.id, `examples.no_match[${i}] produces a ${p.type} finding`);
  });
}

function prepare(text: string, key: string | null): PreparedView {
  const buf = Buffer.from(text, 'utf8');
  return { text, buf, offsets: new Utf8Offsets(buf, text), key };
}

/**
 * Resolve overlaps (DLP.md §2.0 rule 3): by priority, then longer first, then earlier.
 * A candidate overlapping any accepted span is dropped. Accepted spans are kept sorted and
 * non-overlapping, so checking the two neighbours of the insertion point is enough.
 */
export function claimSpans(cands: readonly Candidate[]): Candidate[] {
  const order = [...cands].sort((a, b) =>
    a.priority - b.priority || (b.end - b.start) - (a.end - a.start) || a.start - b.start);
  const accepted: Candidate[] = [];
  for (const c of order) {
    let lo = 0;
    let hi = accepted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((accepted[mid]?.start ?? 0) < c.start) lo = mid + 1;
      else hi = mid;
    }
    const prev = accepted[lo - 1];
    const next = accepted[lo];
    if (prev !== undefined && prev.end > c.start) continue;
    if (next !== undefined && next.start < c.end) continue;
    accepted.splice(lo, 0, c);
  }
  return accepted;
}

function toMatch(c: Candidate): Match {
  const m: Match = {
    type: c.type, patternId: c.patternId, pack: c.pack, start: c.start, end: c.end,
    value: c.value, confidence: c.confidence, defaultAction: c.defaultAction,
  };
  return c.honeytokenId === undefined ? m : { ...m, honeytokenId: c.honeytokenId };
}

/** Sets the patterns are dealt into for random-looking input (random-text.ts). */
const PARTITION_SETS = 3;

/** Keys remembered by readsKey and keyedMightMatch, and the longest one remembered. */
const KEY_CACHE_MAX = 1024;
const KEY_CACHE_MAX_CHARS = 128;

/**
 * Build the detectors. Throws (PackError) when a pack is malformed, a pattern does not
 * compile with RE2, names an unknown validator, or fails one of its own examples.
 */
export function compileDetectors(opts: DetectorOptions): Detectors {
  const { packs, magics } = loadPacks(opts.packSources ?? readPackSources(opts.packFiles));
  const patterns: CompiledPattern[] = packs.flatMap((p) => p.patterns);
  const honey = compileHoneytokens(opts.honeytokens);
  const sources = patterns.map((p) => p.prefilter);
  const honeyIndex = honey.source === null ? -1 : sources.length;
  if (honey.source !== null) sources.push(honey.source);
  // Not patterns: where the full path reads text the body does not hold as written (views.ts),
  // a JSON number as the integer it stands for, a hex dump's bytes, an `od -c` dump's, an `od -t x1` dump's, a list of byte values, a short base64 run in prose. In the
  // same pass they cost nothing (a separate one: ~6, ~1.9, ~10 ms per 4 MiB), and mightMatch says
  // true for them, so the fast path leaves such bodies to the full path.
  const viewStarts = new Set<number>();
  for (const source of [INTEGER_FORM_PREFILTER, HEX_DUMP_PREFILTER, OD_DUMP_PREFILTER, NUMBER_DUMP_PREFILTER, BYTE_LIST_PREFILTER, SHORT_BARE_PREFILTER]) {
    viewStarts.add(sources.length);
    sources.push(source);
  }
  // One automaton over every pattern. If it cannot be built (or later runs out of memory)
  // we fall back to running every pattern: slower, never blind (fail closed).
  let set: RE2SetInstance | null = null;
  try {
    set = sources.length > 0 ? new RE2.Set(sources) : null;
  } catch {
    set = null;
  }
  // The same sources dealt into PARTITION_SETS sets, for random-looking input (base64 images):
  // there the one set's automaton outgrows its memory budget, three smaller ones do not
  // (random-text.ts). The same indices come out either way.
  let partition: { readonly set: RE2SetInstance; readonly index: readonly number[] }[] | null = null;
  if (set !== null && sources.length >= 2 * PARTITION_SETS) {
    try {
      partition = Array.from({ length: PARTITION_SETS }, (_, g) => {
        const index = sources.flatMap((_, i) => (i % PARTITION_SETS === g ? [i] : []));
        return { set: new RE2.Set(index.map((i) => sources[i] as string)), index };
      });
    } catch {
      partition = null;
    }
  }
  const keyPatterns = patterns.filter((p) => p.key !== null);
  // Which key patterns read a key, by key: JSON bodies repeat a handful of keys (`role`,
  // `content`, `max_tokens`), and each test is a call into RE2 per pattern (~25 µs a 20 KiB chat
  // request without this). Keys are agent-chosen: bounded, emptied when full. A body keyed by
  // ids (`{"u1042": {…}, …}`) has more distinct keys than it holds, and the fast path looks up
  // each one: an LRU's bookkeeping cost 0.7 µs a miss there, four RE2 calls (one per key
  // pattern, ~1 µs each whatever they test) 4.6. One set now answers for all of them.
  const keyReaders = new Map<string, readonly CompiledPattern[]>();
  let keySet: RE2SetInstance | null = null;
  try {
    keySet = keyPatterns.length > 1 ? new RE2.Set(keyPatterns.map((p) => p.key!.source)) : null;
  } catch {
    keySet = null;
  }
  const readersOf = (key: string): readonly CompiledPattern[] => {
    let readers = keyReaders.get(key);
    if (readers === undefined) {
      const k = key.toLowerCase();
      readers = keySet === null ? keyPatterns.filter((p) => p.key!.test(k)) : keySet.match(k).sort((a, b) => a - b).map((i) => keyPatterns[i] as CompiledPattern);
      if (key.length <= KEY_CACHE_MAX_CHARS) {
        if (keyReaders.size >= KEY_CACHE_MAX) keyReaders.clear();
        keyReaders.set(key, readers);
      }
    }
    return readers;
  };
  const packNames = packs.map((p) => p.name);
  const fingerprintKey = Buffer.from(opts.fingerprintKey);

  const candidateIndices = (input: Buffer): number[] => {
    if (set === null) return sources.map((_, i) => i);
    try {
      if (partition !== null && looksRandom(input)) {
        const out: number[] = [];
        for (const part of partition) for (const j of part.set.match(input)) out.push(part.index[j] as number);
        return out.sort((a, b) => a - b);
      }
      return set.match(input);
    } catch {
      return sources.map((_, i) => i);
    }
  };

  const wants = (packsFilter: readonly string[] | null, pack: string): boolean =>
    packsFilter === null || packsFilter.includes(pack);

  return {
    packNames,

    scan(view: ScanView, packsFilter: readonly string[] | null, budget?: ScanBudget): Match[] {
      if (view.text.length === 0) return [];
      const prepared = prepare(view.text, view.key);
      const out: Candidate[] = [];
      let honeyLiterals = false;
      for (const i of candidateIndices(prepared.buf)) {
        if (i === honeyIndex) {
          honeyLiterals = true;
          continue;
        }
        const p = patterns[i];
        if (p !== undefined && wants(packsFilter, p.pack)) runPattern(p, prepared, out, budget);
      }
      // Honeytokens always run, whatever `packs` says; digests cannot be prefiltered.
      honey.scan(prepared, out, honeyLiterals);
      return claimSpans(out).map(toMatch);
    },

    mightMatch(raw: Buffer, packsFilter: readonly string[] | null): boolean {
      // set.match() rather than set.test(), although test() stops at the first hit: RE2's
      // earliest-match DFA is slower per byte (4 MiB clean chat: 9.1 vs 8.2 ms; 20 KiB: 42 vs
      // 38 µs), and clean bodies, which scan to the end either way, are the common case.
      for (const i of candidateIndices(raw)) {
        if (i === honeyIndex || viewStarts.has(i)) return true;
        const p = patterns[i];
        // A key pattern matches only a view read under its key, and both callers check those
        // views apart (inspect.ts: someKeyedMember, and scanViews scans them alone). Anchored at
        // the text's ends, its set source matched whole buffers: any JSON with no whitespace
        // (`\S{6,}`: an array of records, a vector upsert) left the fast path for the full one,
        // ~170 ms per MiB of small objects instead of ~3.
        if (p !== undefined && p.key === null && wants(packsFilter, p.pack)) return true;
      }
      if (packs.some((p) => p.magics.length > 0 && wants(packsFilter, p.name)) && matchMagic(magics, raw) !== null) return true;
      return honey.hasDigests && honey.mightMatchDigest(raw);
    },

    readsKey(key: string, packsFilter: readonly string[] | null): boolean {
      return readersOf(key).some((p) => wants(packsFilter, p.pack));
    },

    keyedMightMatch(key: string, value: string, packsFilter: readonly string[] | null): boolean {
      return readersOf(key).some((p) => wants(packsFilter, p.pack) && p.valueStartRe!.test(value));
    },

    detectArchive(bytes: Buffer): string | null {
      return matchMagic(magics, bytes);
    },

    detectArchiveInBase64: base64ArchiveProbe(magics),

    mask(match: Match): string {
      return maskMatch(match);
    },

    fingerprint(value: string): string {
      return fingerprintValue(fingerprintKey, value);
    },

    replacement(match: Match): string {
      return replacementFor(match);
    },
  };
}

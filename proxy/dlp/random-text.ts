/**
 * Whether a buffer looks like random printable text: a base64 image in a chat request, key
 * material, a compressed file sent as base64. It chooses how the detectors' RE2.Set pass runs
 * (detectors.ts), never what it finds: both ways report the same patterns.
 *
 * One RE2.Set over every pattern runs at ~2 ms per MiB on prose and code, but at 30–80 ms per
 * MiB on random base64 or random printable text: there the states its lazy automaton needs
 * (one per combination of the patterns' partial matches) outgrow its fixed memory budget
 * (re2 8 MiB, not settable through node-re2), and it rebuilds states all along the input.
 * Three sets over a third of the patterns each stay within theirs: ~15–20 ms per MiB there,
 * ~5.5 on prose (the sets alone; test/bench/RESULTS.md, "Measured in session 13"; the whole
 * engine in `npm run bench:dlp`).
 *
 * The test samples WINDOWS windows of WIDTH bytes spread over the buffer: a window with no
 * separator is dense when it holds only printable ASCII without JSON's punctuation around a quote, and at
 * least MIN_DISTINCT distinct bytes (prose has a space every few bytes; hex, at most 16 distinct, and other small alphabets
 * are fast on the one set; UTF-8 text of other scripts has bytes ≥ 0x80). 24 bytes of random
 * base64 hold ~20 distinct. A quarter of dense windows is enough: taking prose for random
 * costs ~2.5× on its set pass, random for prose ~15×.
 *
 * Random words (alphanumeric tokens between spaces or newlines: ids, keys, a word list, what
 * `tr -dc A-Za-z0-9 | fold` makes) blow the one set's budget as well: ~120–150 ms per MiB of
 * 3–16 character words from [A-Za-z0-9], ~30 of lower-case base36, against 15–20 on three sets.
 * A window with separators is dense when its other bytes hold at least MIN_DISTINCT_WORDS
 * distinct values and the letter case or the digit/letter kind changes at least
 * MIN_TRANSITIONS times inside its words: ~99% of windows of such words pass, 75% of base36
 * words; of prose, source code and chat JSON at most 2.4%, of hex words 2% (hex has 16 distinct
 * bytes at most, and is fast on the one set).
 *
 * JSON with no whitespace (`[{"id":"r1997","n":1997,"ok":false},…]`, what JSON.stringify
 * writes) has 17 distinct bytes in most windows, but `":`, `",` or `{"` in nearly every one,
 * and it is structure, not randomness: one set runs at ~1.5–3 ms per MiB over it, three at
 * ~5.5, and taken for random it also lost the fast path (inspect.ts). Base64 has no `"`, and in
 * random printable text a quote next to one of `,:[]{}` is in ~3% of windows.
 */

/** `,` `:` `[` `]` `{` `}`: beside a `"`, JSON's structure. */
function jsonPunct(b: number): boolean {
  return b === 0x2C || b === 0x3A || b === 0x5B || b === 0x5D || b === 0x7B || b === 0x7D;
}

/** Shorter inputs always take the one set: a few windows say little, and the pass is cheap. */
export const RANDOM_MIN_BYTES = 64 * 1024;
const WINDOWS = 64;
const WIDTH = 24;
const MIN_DISTINCT = 17;
const MIN_DISTINCT_WORDS = 15;
const MIN_TRANSITIONS = 6;

/** 1 lower-case letter, 2 upper-case, 3 digit, 0 anything else. */
const KIND = new Uint8Array(256);
for (let c = 0x61; c <= 0x7A; c++) KIND[c] = 1;
for (let c = 0x41; c <= 0x5A; c++) KIND[c] = 2;
for (let c = 0x30; c <= 0x39; c++) KIND[c] = 3;

/** Space, tab, LF, CR: what separates words. */
function separator(b: number): boolean {
  return b === 0x20 || b === 0x0A || b === 0x0D || b === 0x09;
}

const seen = new Uint32Array(256);
let generation = 0;

export function looksRandom(buf: Uint8Array): boolean {
  if (buf.length < RANDOM_MIN_BYTES) return false;
  const step = Math.floor((buf.length - WIDTH) / (WINDOWS - 1));
  let dense = 0;
  for (let w = 0; w < WINDOWS; w++) {
    if (generation === 0xffffffff) {
      seen.fill(0);
      generation = 0;
    }
    const gen = ++generation;
    const at = w * step;
    let distinct = 0;
    let printable = true;
    let separators = 0;
    let transitions = 0;
    let prev = 0;
    let prevKind = 0;
    for (let j = at; j < at + WIDTH; j++) {
      const b = buf[j] as number;
      if (separator(b)) {
        separators++;
        prev = b;
        prevKind = 0;
        continue;
      }
      if (b < 0x20 || b >= 0x7f || (b === 0x22 && jsonPunct(prev)) || (prev === 0x22 && jsonPunct(b))) {
        printable = false;
        break;
      }
      const kind = KIND[b] as number;
      if (kind !== 0 && prevKind !== 0 && kind !== prevKind) transitions++;
      prev = b;
      prevKind = kind;
      if (seen[b] !== gen) {
        seen[b] = gen;
        distinct++;
      }
    }
    if (!printable) continue;
    if (separators === 0 ? distinct >= MIN_DISTINCT : distinct >= MIN_DISTINCT_WORDS && transitions >= MIN_TRANSITIONS) dense++;
  }
  return dense * 4 >= WINDOWS;
}

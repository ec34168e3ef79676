/**
 * Shared test material for the inspection pipeline: a small fake Detectors (so pipeline tests
 * do not depend on the pattern packs), policies, and deterministic generators of realistic
 * request bodies (also used by test/bench/dlp-bench.ts).
 */
import { createHmac } from 'node:crypto';
import type { CompiledDlpPolicy } from '../../../proxy/config/types.js';
import type { Detectors, InspectRequest, Match, ScanView } from '../../../proxy/dlp/types.js';
import { base64Head, someBase64Run } from '../../../proxy/dlp/decode-base64.js';
import { INTEGER_FORM_PREFILTER } from '../../../proxy/dlp/decode-json.js';

/** Honeytoken literal the fake detectors know. */
export const FAKE_HONEYTOKEN = 'CANARY-5b1f9e2a';

interface FakeRule {
  readonly re: RegExp;
  readonly type: string;
  readonly pack: string;
  readonly action: Match['defaultAction'];
  readonly confidence: Match['confidence'];
}

const INTEGER_FORM = new RegExp(INTEGER_FORM_PREFILTER);

const FAKE_RULES: readonly FakeRule[] = [
  { re: /(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])/g, type: 'us_ssn', pack: 'pii', action: 'redact', confidence: 'medium' },
  { re: /(?<!\d)4\d{3}(?:[ -]?\d{4}){3}(?!\d)/g, type: 'credit_card', pack: 'pii', action: 'redact', confidence: 'high' },
  { re: /[a-z0-9.]+@[a-z0-9]+\.[a-z]{2,}/g, type: 'email', pack: 'pii', action: 'redact', confidence: 'medium' },
  { re: /PRIVATEKEY[A-Z0-9]*/g, type: 'private_key', pack: 'secrets', action: 'block', confidence: 'high' },
  { re: /maybe-\d{4}/g, type: 'phone', pack: 'pii', action: 'log', confidence: 'low' },
];

/**
 * A Detectors double: finds `ddd-dd-dddd` (us_ssn), `4ddd dddd dddd dddd` (credit_card),
 * simple emails, `PRIVATEKEY…` (private_key, block), `maybe-dddd` (low confidence phone) and the
 * literal FAKE_HONEYTOKEN. `mightMatch` is the union of the same regexes over the raw bytes, and
 * of INTEGER_FORM_PREFILTER, as the real one. `calls` counts scan() calls (for prefilter tests).
 */
export function fakeDetectors(): Detectors & { calls: number } {
  const key = Buffer.from('test-key');
  const d = {
    calls: 0,
    packNames: ['pii', 'secrets', 'archives'],
    scan(view: ScanView, packs: readonly string[] | null): Match[] {
      d.calls++;
      const out: Match[] = [];
      for (const r of FAKE_RULES) {
        if (packs !== null && !packs.includes(r.pack)) continue;
        for (const m of view.text.matchAll(r.re)) {
          const start = m.index ?? 0;
          out.push({
            type: r.type, patternId: `${r.pack}.${r.type}`, pack: r.pack, start, end: start + m[0].length,
            value: m[0], confidence: r.confidence, defaultAction: r.action,
          });
        }
      }
      for (let at = view.text.indexOf(FAKE_HONEYTOKEN); at >= 0; at = view.text.indexOf(FAKE_HONEYTOKEN, at + 1)) {
        out.push({
          type: 'honeytoken', patternId: 'honeytokens.h1', pack: 'honeytokens', start: at, end: at + FAKE_HONEYTOKEN.length,
          value: FAKE_HONEYTOKEN, confidence: 'high', defaultAction: 'block', honeytokenId: 'h1',
        });
      }
      return out.sort((a, b) => a.start - b.start);
    },
    mightMatch(raw: Buffer, packs: readonly string[] | null): boolean {
      const text = raw.toString('utf8');
      if (text.includes(FAKE_HONEYTOKEN)) return true;
      if (d.detectArchive(raw) !== null) return true;
      if (INTEGER_FORM.test(text)) return true;
      return FAKE_RULES.some((r) => (packs === null || packs.includes(r.pack)) && new RegExp(r.re.source).test(text));
    },
    // No key patterns among the fake rules.
    readsKey: (): boolean => false,
    keyedMightMatch: (): boolean => false,
    detectArchive(bytes: Buffer): string | null {
      if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4B && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
      if (bytes.length >= 3 && bytes[0] === 0x1F && bytes[1] === 0x8B && bytes[2] === 0x08) return 'gzip';
      if (bytes.length >= 262 && bytes.toString('latin1', 257, 262) === 'ustar') return 'tar';
      return null;
    },
    detectArchiveInBase64(src: string | Uint8Array, start: number, end: number): string | null {
      return this.detectArchive(base64Head(src, start, end));
    },
    mask(match: Match): string {
      return match.type === 'credit_card' || match.type === 'us_ssn'
        ? match.value.replace(/\d(?=(?:\D*\d){4})/g, '*')
        : '****';
    },
    fingerprint(value: string): string {
      return createHmac('sha256', key).update(value).digest('hex').slice(0, 16);
    },
    replacement(match: Match): string {
      return match.type === 'credit_card' ? match.value.replace(/\d(?=(?:\D*\d){4})/g, '*') : `[REDACTED:${match.type}]`;
    },
  };
  return d;
}

/** A policy with the packs of the fake detectors; override fields per test. */
export function policy(overrides: Partial<CompiledDlpPolicy> = {}): CompiledDlpPolicy {
  return {
    packs: ['pii', 'secrets', 'archives'],
    actions: {},
    defaultAction: null,
    bulkPiiThreshold: null,
    uninspectable: 'block',
    maxInspectBytes: 8 * 1024 * 1024,
    ...overrides,
  };
}

/** A POST with the given body and headers (content-type defaults to JSON). */
export function request(body: Buffer | string, headers: Record<string, string | string[]> = {}, url = '/v1/chat/completions'): InspectRequest {
  return {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    skipHeaders: [],
  };
}

/** Deterministic PRNG (mulberry32) so generated bodies are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were ' +
  'her she there been one all would their we him has when who will more no if out so said what up its about than into them can only ' +
  'other new some could time these two may then do first any my now such like our over man me even most made after also did many ' +
  'before must through back years where much your way well down should because each just those people how too little state good very ' +
  'make world still own see men work long get here between both life being under never day same another know while last might us ' +
  'great old year off come since against go came right used take three function return value request response service deploy config ' +
  'module import export async await promise error handler cache buffer stream socket proxy policy token session client server').split(' ');

const CODE = [
  'export async function handler(req: Request): Promise<Response> {',
  '  const body = await req.json() as { items: string[] };',
  '  if (!Array.isArray(body.items)) throw new TypeError("items must be an array");',
  '  for (const item of body.items) {',
  '    console.log(`processing ${item}`);',
  '  }',
  '  return new Response(JSON.stringify({ ok: true }), { status: 200 });',
  '}',
  'def parse_line(line: str) -> dict:',
  '    key, _, value = line.partition("=")',
  '    return {"key": key.strip(), "value": value.strip()}',
  'SELECT id, name, created_at FROM users WHERE active = true ORDER BY created_at DESC LIMIT 50;',
  '    if err != nil {\n        return fmt.Errorf("read config: %w", err)\n    }',
  '  "scripts": { "build": "tsc -p tsconfig.json", "test": "node --test" },',
];

function hex(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)];
  // An all-digit run of 12+ is card-shaped (a real candidate): keep generated hex clean.
  return /[a-f]/.test(s) ? s : `c${s.slice(1)}`;
}

/** A UUID whose groups always hold a letter (an all-digit group is a card-shaped number). */
function uuid(rand: () => number): string {
  const group = (n: number): string => {
    const g = hex(rand, n);
    return /[a-f]/.test(g) ? g : `a${g.slice(1)}`;
  };
  return `${group(8)}-${group(4)}-4${group(3)}-a${group(3)}-${group(12)}`;
}

function paragraph(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)] ?? 'the');
  return out.join(' ');
}

/**
 * A realistic, clean OpenAI-style chat body of about `bytes` bytes: long English text, code
 * blocks, UUIDs, short git SHAs and sha256 digests, file paths, a tool call with JSON `arguments`.
 * With `gitShas`, commits are full 40-hex SHAs (which the current secrets pack's
 * `aws_secret_access_key_near_id` candidate regex matches, defeating every prefilter).
 */
export function cleanChatBody(bytes: number, seed = 1, gitShas = false): Buffer {
  const rand = prng(seed);
  const messages: unknown[] = [{ role: 'system', content: `You are a coding assistant. Session ${uuid(rand)}.` }];
  let size = 0;
  let turn = 0;
  while (size < bytes) {
    const parts: string[] = [];
    for (let p = 0; p < 4; p++) {
      parts.push(paragraph(rand, 60 + Math.floor(rand() * 80)) + '.');
      if (rand() < 0.5) parts.push('```\n' + CODE.slice(0, 3 + Math.floor(rand() * 8)).join('\n') + '\n```');
      if (rand() < 0.5) parts.push(`commit ${hex(rand, gitShas ? 40 : 12)} touched src/lib/module-${Math.floor(rand() * 100)}/index.ts (sha256 ${hex(rand, 64)}), request id ${uuid(rand)}`);
    }
    const content = parts.join('\n\n');
    if (turn % 5 === 4) {
      messages.push({
        role: 'assistant', content: null,
        tool_calls: [{ id: `call_${hex(rand, 24)}`, type: 'function', function: { name: 'read_file', arguments: JSON.stringify({ path: `src/app/${hex(rand, 8)}.ts`, reason: paragraph(rand, 20) }) } }],
      });
      messages.push({ role: 'tool', tool_call_id: `call_${hex(rand, 24)}`, content });
    } else {
      messages.push({ role: turn % 2 === 0 ? 'user' : 'assistant', content });
    }
    size += content.length + 120;
    turn++;
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-4o', stream: true, temperature: 0.2, messages }), 'utf8');
}

/** A chat body of about `bytes` bytes where every message carries SSNs, cards and emails. */
export function denseChatBody(bytes: number, seed = 2): Buffer {
  const rand = prng(seed);
  const messages: unknown[] = [];
  let size = 0;
  while (size < bytes) {
    const area = 100 + Math.floor(rand() * 500);
    const ssn = `${area}-${10 + Math.floor(rand() * 80)}-${1000 + Math.floor(rand() * 8999)}`;
    const content = `${paragraph(rand, 30)} customer ssn ${ssn}, card 4556 7375 8689 9855, mail user${Math.floor(rand() * 1e6)}@example.com. ${paragraph(rand, 30)}`;
    messages.push({ role: 'user', content });
    size += content.length + 30;
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-4o', messages }), 'utf8');
}

/** A multipart/form-data upload of about `bytes` bytes: a JSON part, a text file, a CSV file. */
export function multipartUpload(bytes: number, seed = 3): { body: Buffer; contentType: string } {
  const rand = prng(seed);
  const boundary = '----WardenBoundary' + hex(rand, 16);
  const lines: string[] = [];
  while (lines.join('\n').length < bytes / 2) lines.push(`${Math.floor(rand() * 1e5)},${paragraph(rand, 6)},${hex(rand, 12)}`);
  const csv = lines.join('\n');
  const text = paragraph(rand, Math.floor(bytes / 12));
  const body = [
    `--${boundary}`, 'Content-Disposition: form-data; name="purpose"', '', 'assistants',
    `--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="notes.txt"', 'Content-Type: text/plain', '', text,
    `--${boundary}`, 'Content-Disposition: form-data; name="data"; filename="rows.csv"', 'Content-Type: text/csv', '', csv,
    `--${boundary}--`, '',
  ].join('\r\n');
  return { body: Buffer.from(body, 'utf8'), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Every base64 run someBase64Run visits in `b`, as `[start, end)` pairs. */
export function base64RunsOf(b: Uint8Array): Array<{ start: number; end: number }> {
  const runs: Array<{ start: number; end: number }> = [];
  someBase64Run(b, (start, end) => {
    runs.push({ start, end });
    return false;
  });
  return runs;
}

/**
 * A `compress` (.Z) stream of `data` as literals only: flags 0x90 (block mode, 16 bits), then one
 * 9-bit code per byte, least significant bit first. Valid while the table stays under 512 entries.
 */
export function lzwLiterals(data: Uint8Array): Buffer {
  if (data.length >= 250) throw new RangeError('lzwLiterals: at most 249 bytes');
  const out = [0x1F, 0x9D, 0x90];
  let acc = 0;
  let bits = 0;
  for (const b of data) {
    acc |= b << bits;
    bits += 9;
    while (bits >= 8) {
      out.push(acc & 0xFF);
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out.push(acc & 0xFF);
  return Buffer.from(out);
}

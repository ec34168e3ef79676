/**
 * Pattern packs: read `dlp-patterns/*.yaml` (and admins' custom packs), validate their shape,
 * expand macros, compile every pattern with re2, resolve validators. The self-check of each
 * pattern's examples happens in detectors.ts once the matcher exists (checkPackExamples).
 *
 * Errors name the file and the pattern id, never a pattern's example values: those are
 * secret-shaped strings by design and must not reach logs.
 */
import { basename } from 'node:path';
import { RE2, type RE2Instance } from './re2.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { DlpAction } from '../config/types.js';
import { BOUNDARY_KINDS, type BoundaryKind } from './boundaries.js';
import type { Confidence } from './types.js';
import type { Validator } from './validators/types.js';

/** Default claim priority per finding type (DLP.md §2.0 rule 3: lower claims first). */
export const TYPE_PRIORITY: Readonly<Record<string, number>> = {
  honeytoken: 0,
  archive: 5,
  private_key: 10,
  aws_access_key_id: 20, aws_secret_access_key: 20, aws_session_token: 20, github_token: 20,
  gitlab_token: 20, slack_token: 20, slack_webhook_url: 20, stripe_key: 20, openai_api_key: 20,
  anthropic_api_key: 20, google_api_key: 20, azure_client_secret: 20, huggingface_token: 20,
  vendor_api_key: 22,
  jwt: 30,
  password_in_url: 35,
  http_auth_credential: 40,
  generic_secret: 45,
  crypto_wallet: 48,
  credit_card: 50,
  iban: 55,
  us_ssn: 60, us_itin: 60,
  aba_routing: 65, uk_nhs: 65,
  email: 70,
  ip_address: 80,
  mac_address: 82,
  date_of_birth: 85,
  phone: 90,
};

const DEFAULT_PRIORITY = 50;

/**
 * Macros keep assignment-shaped patterns readable. `{{assign}}`: the rest of a key name, then
 * `=`, `:`, `:=`, `=>`, `?=`, `,` (`setProperty("KEY", "v")`), with quotes and spaces around.
 * `{{end}}`: what may follow a token (quote, space, `;`, `,`, `)`, `<`, an escaped newline, end).
 */
const MACROS: Readonly<Record<string, string>> = {
  '{{assign}}': String.raw`[\w.-]{0,25}["'\]]{0,2}[ \t]{0,3}(?::{0,3}=|\?=|=>?|:|,)[ \t]{0,3}[\x60"'=]{0,2}[ \t]{0,2}`,
  '{{end}}': String.raw`(?:[\x60'"\s;,)<>\]}|&]|\\[nrt]|$)`,
  '{{uuid}}': String.raw`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`,
};

/** Expand `{{assign}}`, `{{end}}`, `{{uuid}}` in a pattern source. */
export function expandMacros(src: string): string {
  let out = src;
  for (const [k, v] of Object.entries(MACROS)) out = out.split(k).join(v);
  return out;
}

const Example = z.union([z.string(), z.object({ text: z.string(), key: z.string().nullable().optional() }).strict()]);
const Boundary = z.enum(BOUNDARY_KINDS as [BoundaryKind, ...BoundaryKind[]]);
const Action = z.enum(['block', 'redact', 'log']);
const Conf = z.enum(['low', 'medium', 'high']);

const PatternSchema = z.object({
  id: z.string().regex(/^[a-z0-9_]+$/, 'ids are lower-case letters, digits and _'),
  type: z.string().regex(/^[a-z0-9_]+$/),
  pattern: z.string().min(1),
  prefilter: z.string().min(1).optional(),
  group: z.number().int().min(0).optional(),
  validator: z.string().optional(),
  context: z.array(z.string().min(1)).optional(),
  context_required: z.boolean().optional(),
  context_window: z.number().int().min(1).max(1000).optional(),
  key: z.string().optional(),
  boundary: z.union([Boundary, z.object({ left: Boundary, right: Boundary }).strict()]).optional(),
  min_entropy: z.number().min(0).max(8).optional(),
  placeholder: z.boolean().optional(),
  action: Action.optional(),
  confidence: Conf.optional(),
  priority: z.number().int().min(0).max(1000).optional(),
  description: z.string().optional(),
  examples: z.object({
    match: z.array(Example).min(1),
    no_match: z.array(Example).optional(),
  }).strict(),
}).strict();

const MagicSchema = z.object({
  format: z.string().regex(/^[a-z0-9_]+$/),
  hex: z.string().regex(/^(?:[0-9a-fA-F]{2})+$/),
  offset: z.number().int().min(0).max(65536).optional(),
  base64: z.string().optional(),
}).strict();

const PackSchema = z.object({
  pack: z.string().regex(/^[a-z0-9_-]+$/),
  description: z.string().optional(),
  defaults: z.object({
    action: Action.optional(),
    confidence: Conf.optional(),
    boundary: z.union([Boundary, z.object({ left: Boundary, right: Boundary }).strict()]).optional(),
    placeholder: z.boolean().optional(),
    min_entropy: z.number().min(0).max(8).optional(),
    context_window: z.number().int().min(1).max(1000).optional(),
  }).strict().optional(),
  patterns: z.array(PatternSchema).optional(),
  magics: z.array(MagicSchema).optional(),
}).strict();

export type ExampleSpec = z.infer<typeof Example>;

/** One archive magic-number entry (data in archives.yaml). */
export interface Magic {
  readonly format: string;
  readonly bytes: Buffer;
  readonly offset: number;
  readonly base64: string | null;
}

/** A compiled pattern, ready for the matcher. */
export interface CompiledPattern {
  readonly pack: string;
  readonly file: string;
  readonly id: string;
  /** `<pack>.<id>` */
  readonly patternId: string;
  readonly type: string;
  /** Expanded RE2 source. */
  readonly source: string;
  /**
   * What this pattern contributes to the RE2.Set prefilter: `source`, or the pack's `prefilter`,
   * a cheaper superset (it must match wherever `source` matches; checked on the examples).
   */
  readonly prefilter: string;
  /** The prefilter source compiled alone (the example check runs it). */
  readonly prefilterRe: RE2Instance;
  /**
   * For a key pattern, the start of a value it may match, from the value's first character (a
   * JSON string's opening quote, a number, a view's text): its `^…$` source unanchored at the
   * end, a superset. The fast path and the group prefilter test a value under a key the pattern
   * reads with it (Detectors.keyedMightMatch): their set passes never see key and value together.
   */
  readonly valueStartRe: RE2Instance | null;
  /** Global + indices RE2, run on UTF-8 Buffers. */
  readonly re: RE2Instance;
  readonly group: number;
  readonly validator: Validator | null;
  readonly context: RegExp | null;
  readonly contextWords: readonly string[];
  readonly contextRequired: boolean;
  readonly contextWindow: number;
  readonly key: RE2Instance | null;
  readonly left: BoundaryKind;
  readonly right: BoundaryKind;
  readonly minEntropy: number | null;
  readonly placeholder: boolean;
  readonly action: DlpAction;
  readonly confidence: Confidence;
  readonly priority: number;
  readonly examples: { readonly match: readonly ExampleSpec[]; readonly noMatch: readonly ExampleSpec[] };
}

export interface LoadedPack {
  readonly name: string;
  readonly file: string;
  readonly patterns: readonly CompiledPattern[];
  readonly magics: readonly Magic[];
}

/** Raised for any pack that cannot load; the message names file and pattern, never values. */
export class PackError extends Error {
  constructor(readonly file: string, readonly patternId: string | null, detail: string) {
    super(`${file}${patternId === null ? '' : ` pattern ${patternId}`}: ${detail}`);
    this.name = 'PackError';
  }
}

function escapeForRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parse a pack file's YAML text and check its shape (no compilation yet). */
export function readPackFile(file: string, text: string): z.infer<typeof PackSchema> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new PackError(file, null, `cannot read or parse YAML (${(err as Error).message.split('\n')[0] ?? ''})`);
  }
  const parsed = PackSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw new PackError(file, null, `invalid pack at ${path || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Parse magics of a pack into bytes. */
export function compileMagics(data: z.infer<typeof PackSchema>): Magic[] {
  return (data.magics ?? []).map((m) => ({
    format: m.format,
    bytes: Buffer.from(m.hex, 'hex'),
    offset: m.offset ?? 0,
    base64: m.base64 ?? null,
  }));
}

/**
 * Compile one pack: expand macros, compile with re2 (`gd` flags: global for exec loops,
 * indices for group offsets), resolve validators by name.
 */
export function compilePack(
  file: string,
  data: z.infer<typeof PackSchema>,
  validators: Readonly<Record<string, Validator>>,
): LoadedPack {
  const name = data.pack;
  const defaults = data.defaults ?? {};
  const seen = new Set<string>();
  const patterns: CompiledPattern[] = [];
  for (const p of data.patterns ?? []) {
    if (seen.has(p.id)) throw new PackError(file, p.id, 'duplicate pattern id');
    seen.add(p.id);
    const source = expandMacros(p.pattern);
    let re: RE2Instance;
    try {
      re = new RE2(source, 'gd');
    } catch (err) {
      throw new PackError(file, p.id, `pattern does not compile with RE2 (${(err as Error).message})`);
    }
    let prefilter = source;
    let prefilterRe = re;
    if (p.prefilter !== undefined) {
      prefilter = expandMacros(p.prefilter);
      try {
        prefilterRe = new RE2(prefilter, 'g');
      } catch (err) {
        throw new PackError(file, p.id, `prefilter does not compile with RE2 (${(err as Error).message})`);
      }
    }
    let valueStartRe: RE2Instance | null = null;
    if (p.key !== undefined) {
      const start = valueStart(file, p.id, source);
      try {
        valueStartRe = new RE2(start);
      } catch (err) {
        throw new PackError(file, p.id, `pattern does not compile as a value start (${(err as Error).message})`);
      }
    }
    const groupCount = countGroups(source);
    const group = p.group ?? (groupCount > 0 ? 1 : 0);
    if (group > groupCount) throw new PackError(file, p.id, `group ${group} does not exist (pattern has ${groupCount})`);
    let validator: Validator | null = null;
    if (p.validator !== undefined) {
      const v = validators[p.validator];
      if (v === undefined) throw new PackError(file, p.id, `unknown validator "${p.validator}"`);
      validator = v;
    }
    let key: RE2Instance | null = null;
    if (p.key !== undefined) {
      try {
        key = new RE2(p.key);
      } catch (err) {
        throw new PackError(file, p.id, `key regex does not compile with RE2 (${(err as Error).message})`);
      }
    }
    const words = (p.context ?? []).map((w) => w.toLowerCase());
    // Hotwords are escaped literals, so a JS RegExp is safe here (no user-controlled syntax).
    const context = words.length > 0 ? new RegExp(`(?:^|[^a-z])(?:${words.map(escapeForRegExp).join('|')})`) : null;
    const boundary = p.boundary ?? defaults.boundary ?? 'none';
    const left = typeof boundary === 'string' ? boundary : boundary.left;
    const right = typeof boundary === 'string' ? boundary : boundary.right;
    patterns.push({
      pack: name,
      file,
      id: p.id,
      patternId: `${name}.${p.id}`,
      type: p.type,
      source,
      prefilter,
      prefilterRe,
      valueStartRe,
      re,
      group,
      validator,
      context,
      contextWords: words,
      contextRequired: p.context_required ?? false,
      contextWindow: p.context_window ?? defaults.context_window ?? 60,
      key,
      left,
      right,
      minEntropy: p.min_entropy ?? defaults.min_entropy ?? null,
      placeholder: p.placeholder ?? defaults.placeholder ?? false,
      action: p.action ?? defaults.action ?? 'redact',
      confidence: p.confidence ?? defaults.confidence ?? 'medium',
      priority: p.priority ?? TYPE_PRIORITY[p.type] ?? DEFAULT_PRIORITY,
      examples: { match: p.examples.match, noMatch: p.examples.no_match ?? [] },
    });
  }
  return { name, file, patterns, magics: compileMagics(data) };
}

/**
 * The source of valueStartRe: `^"?` and the pattern's `^…$` source without its `$`, flags kept.
 * A key pattern must be written `^…$`: it matches a whole value.
 */
export function valueStart(file: string, id: string, source: string): string {
  const m = /^(?:\(\?([imsU]+)\))?\^([\s\S]*[^\\])\$$/.exec(source);
  if (m === null) throw new PackError(file, id, 'a pattern with `key` matches a whole value: write it as ^…$');
  return `^"?${m[1] === undefined ? `(?:${m[2]!})` : `(?${m[1]}:${m[2]!})`}`;
}

/** Number of capturing groups in an RE2 source (named and unnamed). */
function countGroups(source: string): number {
  let n = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') { i++; continue; }
    if (inClass) { if (ch === ']') inClass = false; continue; }
    if (ch === '[') { inClass = true; continue; }
    if (ch === '(') {
      if (source[i + 1] !== '?') n++;
      else if (source[i + 2] === 'P' || (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!')) n++;
    }
  }
  return n;
}

/** Pack name a file would get if it had none (used in messages only). */
export function packLabel(file: string): string {
  return basename(file);
}

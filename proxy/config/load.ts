/**
 * read → parse → validate → compile → freeze. The only code that sees raw YAML.
 * Every error names `FILE:LINE:COL key.path: message`; nothing here prints a stack trace
 * or a secret (token values are never echoed).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { compileConfig } from './compile.js';
import { rawConfigSchema } from './schema.js';
import type { CompiledConfig } from './types.js';

export type ConfigPath = ReadonlyArray<string | number>;

export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.path || '(root)'}: ${i.message}`;
}

/** `profiles.default.allow[1].host`; keys that are not identifiers are quoted. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** Locate a path in the YAML document: the key node for `atKey`, else the value node; falls back to the nearest ancestor. */
function locate(doc: Document, path: ConfigPath, atKey: boolean): [number, number] | null {
  let node: unknown = doc.contents;
  let best: [number, number] | null = rangeOf(node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      if (last && atKey) return rangeOf(pair.key) ?? best;
      node = pair.value;
      best = rangeOf(pair.value) ?? rangeOf(pair.key) ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      best = rangeOf(node) ?? best;
    } else return best;
  }
  return best;
}

function rangeOf(node: unknown): [number, number] | null {
  const r = (node as Node | undefined)?.range;
  return r ? [r[0], r[1]] : null;
}

/** Collects issues with positions; handed to compile.ts. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document | null,
    private readonly lines: LineCounter | null,
  ) {}

  add(path: ConfigPath, message: string, atKey = false): void {
    let line = 1;
    let col = 1;
    if (this.doc && this.lines) {
      const r = locate(this.doc, path, atKey);
      if (r) ({ line, col } = this.lines.linePos(r[0]));
    }
    this.issues.push({ file: this.file, line, col, path: formatPath(path), message });
  }
}

/** Turn zod issues into ours; for unions, report the branch that matches the input's shape. */
function addZodIssues(c: IssueCollector, issues: readonly z.core.$ZodIssue[], base: ConfigPath = []): void {
  for (const issue of issues) {
    const path = [...base, ...(issue.path as Array<string | number>)];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) c.add([...path, k], `unknown key "${k}"`, true);
    } else if (issue.code === 'invalid_union') {
      const branches = issue.errors;
      // A branch whose only complaint is "wrong type at the root" is the branch the author did not mean.
      const meant = branches.find((b) => !b.every((e) => e.code === 'invalid_type' && e.path.length === 0)) ?? branches[0];
      if (meant && meant.length > 0) addZodIssues(c, meant, path);
      else c.add(path, issue.message);
    } else {
      c.add(path, issue.message.replace(/^Invalid input: /, ''));
    }
  }
}

/** Parse and compile a config from text. Throws ConfigError. */
export function compileConfigText(text: string, file: string): CompiledConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const c = new IssueCollector(file, doc, lines);
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    c.issues.push({ file, line, col, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (c.issues.length) throw new ConfigError(c.issues);
  const raw: unknown = doc.toJS() ?? {};
  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    addZodIssues(c, parsed.error.issues);
    throw new ConfigError(byPosition([...c.issues, ...issuesBesides(raw, parsed.error.issues, file, doc, lines)]));
  }
  const compiled = compileConfig(parsed.data, resolve(file), c);
  if (c.issues.length || !compiled) throw new ConfigError(byPosition(c.issues));
  return deepFreeze(compiled);
}

/** Issues in file order (the schema's come first otherwise). */
function byPosition(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * The compile-stage issues of a config that failed the schema, so that `warden check` lists
 * every error in one run: the values the schema refused are cut out (the nearest object key
 * holding them; a whole list when one of its items is refused, so that later items keep their
 * index) until the rest passes, then the rest is compiled. Issues at, above or below a cut path
 * are dropped: they would be consequences of the cut, not errors of the file.
 */
function issuesBesides(raw: unknown, issues: readonly z.core.$ZodIssue[], file: string, doc: Document, lines: LineCounter): ConfigIssue[] {
  const pruned = structuredClone(raw);
  const cut: string[] = [];
  let pending = issues;
  for (let round = 0; round < 8; round++) {
    for (const issue of pending) {
      const paths = issue.code === 'unrecognized_keys'
        ? issue.keys.map((k): ConfigPath => [...(issue.path as ConfigPath), k])
        : [issue.path as ConfigPath];
      for (const p of paths) {
        const at = cutAt(pruned, p);
        if (at === null) return []; // the root itself: nothing left to compile
        cut.push(formatPath(at));
      }
    }
    const again = rawConfigSchema.safeParse(pruned);
    if (again.success) {
      const c = new IssueCollector(file, doc, lines);
      compileConfig(again.data, resolve(file), c);
      const under = (a: string, b: string): boolean => a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
      return c.issues.filter((i) => i.path !== '' && !cut.some((p) => i.path === p || under(i.path, p) || under(p, i.path)));
    }
    pending = again.error.issues;
  }
  return [];
}

/**
 * Delete what `path` names from `root`: the object key holding it (the nearest one that exists),
 * or the list holding it. Returns the path deleted, or null when that would be the root.
 */
function cutAt(root: unknown, path: ConfigPath): ConfigPath | null {
  for (let end = path.length; end > 0; end--) {
    let parent: unknown = root;
    for (const seg of path.slice(0, end - 1)) parent = (parent as Record<string | number, unknown> | undefined)?.[seg];
    const seg = path[end - 1] as string | number;
    if (parent === null || typeof parent !== 'object' || Array.isArray(parent) || typeof seg !== 'string') continue;
    if (!(seg in parent)) continue;
    delete (parent as Record<string, unknown>)[seg];
    return path.slice(0, end);
  }
  return null;
}

/**
 * An issue at `path` of the config file `file` (which compiled): for checks made after
 * compiling, such as building the DLP packs a config names, so that they too point at the key.
 * Falls back to 1:1 when the file cannot be read again or the path is not in it.
 */
export function issueAt(file: string, path: ConfigPath, message: string): ConfigIssue {
  let c = new IssueCollector(file, null, null);
  try {
    const lines = new LineCounter();
    c = new IssueCollector(file, parseDocument(readFileSync(file, 'utf8'), { lineCounter: lines, prettyErrors: false }), lines);
  } catch {
    /* no positions: IssueCollector reports 1:1 */
  }
  c.add(path, message);
  return c.issues[0] as ConfigIssue;
}

/** Read, parse, validate, compile and freeze a config file. Throws ConfigError (never a raw stack). */
export function loadConfig(file: string): CompiledConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ file: abs, line: 1, col: 1, path: '', message: `cannot read the config file (${code})` }]);
  }
  return compileConfigText(text, abs);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)) {
    if (value instanceof Map) for (const v of value.values()) deepFreeze(v);
    else for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Redaction: map a match in a view back through every decoding layer to the text the client
 * sent, replace only that span (re-encoding the replacement for each layer: JSON escapes,
 * percent-encoding), then rebuild the body so it stays valid for its content type.
 *
 * Invariant: bytes outside redacted spans are kept exactly (JSON whitespace, key order, number
 * formatting, escapes, multipart boundaries and part headers), except that a redacted JSON
 * number becomes a JSON string and a base64 multipart part is re-encoded as a whole.
 */
import { escapeJsonContent, unescapeJson } from './decode-json.js';
import { encodeBase64Lines } from './decode-multipart.js';
import { percentDecode, percentEncode } from './decode-percent.js';
import type { BodyModel, Edit, RootText, UrlModel, ViewNode } from './views.js';

/** False when some layer between the view and the request cannot be rewritten (base64, header…). */
export function isRewritable(node: ViewNode): boolean {
  let n: ViewNode = node;
  for (;;) {
    const d = n.derivation;
    if (d.kind === 'root') return true;
    if (d.kind === 'opaque') return false;
    n = d.parent;
  }
}

function mapSpan(map: { readonly starts: Int32Array; readonly ends: Int32Array }, start: number, end: number, fallbackEnd: number): [number, number] {
  const n = map.starts.length;
  if (n === 0) return [0, fallbackEnd];
  const s = Math.min(Math.max(start, 0), n - 1);
  const e = Math.min(Math.max(end - 1, s), n - 1);
  return [map.starts[s] ?? 0, map.ends[e] ?? fallbackEnd];
}

function ensureMap(node: ViewNode): { readonly starts: Int32Array; readonly ends: Int32Array } {
  if (node.map !== null) return node.map;
  const d = node.derivation;
  let map: { starts: Int32Array; ends: Int32Array };
  if (d.kind === 'json-string') {
    map = unescapeJson(d.parent.orig.slice(d.start, d.end), true).map ?? { starts: new Int32Array(0), ends: new Int32Array(0) };
  } else if (d.kind === 'percent') {
    const r = percentDecode(d.parent.orig.slice(d.start, d.end), d.plus, true);
    map = { starts: r.starts ?? new Int32Array(0), ends: r.ends ?? new Int32Array(0) };
  } else {
    throw new Error('no offset map for this derivation');
  }
  node.map = map;
  return map;
}

/** The span in the parent's text that `[start, end)` of `node.orig` came from (one layer up). */
export function spanInParent(node: ViewNode, start: number, end: number): [number, number] {
  const d = node.derivation;
  if (d.kind === 'offset') return [d.start + start, d.start + end];
  if (d.kind === 'json-string' || d.kind === 'percent') {
    const [ms, me] = mapSpan(ensureMap(node), start, end, d.end - d.start);
    return [d.start + ms, d.start + me];
  }
  return [start, end];
}

/**
 * Map `[start, end)` of `node.orig` to the request parent by parent, and record the edit at
 * the root. `text` is the replacement as it must read in `node.orig`. Returns false (nothing
 * recorded) when the chain holds an opaque layer: the caller escalates to block.
 */
export function pushEdit(node: ViewNode, start: number, end: number, text: string): boolean {
  if (!isRewritable(node)) return false;
  let n: ViewNode = node;
  let s = start;
  let e = end;
  let t = text;
  let direct = true;
  for (;;) {
    const d = n.derivation;
    switch (d.kind) {
      case 'root':
        d.root.edits.push({ start: s, end: e, text: direct && d.root.encodeDirect !== null ? d.root.encodeDirect(t) : t });
        return true;
      case 'offset':
        s += d.start;
        e += d.start;
        n = d.parent;
        break;
      case 'json-string':
      case 'percent': {
        // Decoded text: map the span back through the escapes and encode the replacement alike.
        const [ms, me] = mapSpan(ensureMap(n), s, e, d.end - d.start);
        s = d.start + ms;
        e = d.start + me;
        t = d.kind === 'json-string' ? escapeJsonContent(t) : percentEncode(t, d.plus);
        n = d.parent;
        break;
      }
      case 'json-number':
        // A number cannot hold `[REDACTED:…]`: collect, then replace the literal by a string.
        (n.pending ??= []).push({ start: s, end: e, text: t });
        return true;
      case 'opaque':
        return false;
    }
    direct = false;
  }
}

/**
 * Replace each redacted JSON number by a JSON string holding its redacted text. A number written
 * with a fraction or an exponent has two views (the literal and the integer it stands for:
 * views.ts); when both are redacted to different texts, no one string holds both redactions and
 * two would make the JSON invalid: returns false, and the caller blocks.
 */
export function flushNumberEdits(nodes: readonly ViewNode[]): boolean {
  const flushed = new Map<ViewNode, Map<number, string>>(); // parent → literal start → its string
  let ok = true;
  for (const n of nodes) {
    const d = n.derivation;
    if (d.kind !== 'json-number' || n.pending === null || n.pending.length === 0) continue;
    const edits = n.pending;
    n.pending = null;
    const literal = JSON.stringify(applyEdits(n.orig, edits));
    let spans = flushed.get(d.parent);
    if (spans === undefined) flushed.set(d.parent, (spans = new Map()));
    const other = spans.get(d.start);
    if (other !== undefined) {
      ok &&= other === literal;
      continue;
    }
    spans.set(d.start, literal);
    // The literal's span in the parent is `[d.start, d.end)`; route it through the parent chain
    // as an edit of the parent text (the parent is a root or a nested-JSON string).
    const holder: ViewNode = { ...n, derivation: { kind: 'offset', parent: d.parent, start: d.start } };
    pushEdit(holder, 0, d.end - d.start, literal);
  }
  return ok;
}

/**
 * Apply edits to a text. Overlapping edits (two views reporting the same value) merge into one
 * span; distinct replacements of a merged span are kept in order.
 */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  if (edits.length === 0) return text;
  const sorted = [...edits].sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: { start: number; end: number; text: string }[] = [];
  for (const ed of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && ed.start < last.end) {
      if (ed.end > last.end) last.end = ed.end;
      if (!last.text.includes(ed.text)) last.text += ed.text;
      continue;
    }
    merged.push({ start: ed.start, end: ed.end, text: ed.text });
  }
  const out: string[] = [];
  let pos = 0;
  for (const m of merged) {
    out.push(text.slice(pos, m.start), m.text);
    pos = m.end;
  }
  out.push(text.slice(pos));
  return out.join('');
}

function rootChanged(root: RootText): boolean {
  return root.edits.length > 0;
}

/** Rebuild a body model after edits; null when nothing in it changed. */
export function rebuildBody(model: BodyModel): Buffer | null {
  switch (model.kind) {
    case 'none':
    case 'opaque':
      return null;
    case 'text':
      return rootChanged(model.root) ? Buffer.from(applyEdits(model.root.text, model.root.edits), 'utf8') : null;
    case 'multipart': {
      const chunks: Buffer[] = [];
      let pos = 0;
      let changed = false;
      for (const part of model.parts) {
        const inner = rebuildBody(part.model);
        if (inner === null) continue;
        changed = true;
        const encoded = part.base64LineLength === null ? inner : Buffer.from(encodeBase64Lines(inner, part.base64LineLength), 'latin1');
        chunks.push(model.bytes.subarray(pos, part.bodyStart), encoded);
        pos = part.bodyEnd;
      }
      if (!changed) return null;
      chunks.push(model.bytes.subarray(pos));
      return Buffer.concat(chunks);
    }
  }
}

/** Rebuild the origin-form URL after edits; null when neither path nor query changed. */
export function rebuildUrl(url: UrlModel): string | null {
  const pathChanged = rootChanged(url.path);
  const queryChanged = url.query !== null && rootChanged(url.query);
  if (!pathChanged && !queryChanged) return null;
  const path = applyEdits(url.path.text, url.path.edits);
  const query = url.query === null ? '' : `?${applyEdits(url.query.text, url.query.edits)}`;
  return `${url.prefix}${path}${query}${url.fragment}`;
}

/**
 * Findings for the audit record: the only place where matches become loggable data.
 * A value is rendered only through `detectors.mask` (sample) and `detectors.fingerprint` (fp).
 *
 * Aggregation: one finding per distinct value at a location, i.e. per (type, where, action,
 * fp), with `count` = occurrences. That keeps one fingerprint per value (so equal values
 * correlate across records, as `warden scan` does per line). A bulk export would make that list
 * long, so past MAX_FINDINGS groups the list collapses to one finding per (type, where, action)
 * carrying the first value's sample and fp and the total count.
 */
import type { AuditFinding } from '../audit/events.js';
import type { DlpAction } from '../config/types.js';
import type { Detectors, Match } from './types.js';

/** Findings listed one per value; beyond this, per (type, where, action). */
export const MAX_FINDINGS = 64;
/** Longest `where` written to the audit record. */
const MAX_WHERE = 200;

/** A match with where it was found and the action Warden takes on it. */
export interface ResolvedMatch {
  readonly match: Match;
  readonly where: string;
  readonly action: DlpAction;
}

/** An archive with its effective action. */
export interface ResolvedArchive {
  readonly format: string;
  readonly where: string;
  readonly digest: string;
  readonly action: DlpAction;
}

/**
 * Paths are built from JSON keys, field, part and file names: attacker-chosen text that can
 * itself be a secret (`{"AKIA…": 1}`). Every value matched in such a name (`secrets`) is starred
 * out of every `where`: each stretch of `where` that some secret covers becomes one `*`.
 *
 * The secrets are indexed by their first 4 characters, then by length, so a `where` costs one
 * lookup per character and per distinct length sharing that start, not one search per secret:
 * 5,000 names holding an AWS key id each (5,000 wheres × 15,000 secrets) took ~0.7 s that way.
 */
function whereSanitizer(secrets: readonly string[]): (where: string) => string {
  const byStart = new Map<string, Map<number, Set<string>>>();
  for (const s of secrets) {
    if (s.length < 4) continue;
    const start = s.slice(0, 4);
    let byLength = byStart.get(start);
    if (byLength === undefined) byStart.set(start, (byLength = new Map()));
    let set = byLength.get(s.length);
    if (set === undefined) byLength.set(s.length, (set = new Set()));
    set.add(s);
  }
  return (where) => {
    let w = where;
    if (byStart.size > 0) {
      let out = '';
      let copied = 0; // where[copied…] is not yet in out
      let coveredTo = -1; // end of the stretch being starred
      for (let i = 0; i + 4 <= where.length; i++) {
        const byLength = byStart.get(where.slice(i, i + 4));
        if (byLength === undefined) continue;
        let end = -1;
        for (const [len, set] of byLength) if (i + len > end && set.has(where.slice(i, i + len))) end = i + len;
        if (end < 0) continue;
        if (i > coveredTo) {
          if (coveredTo >= 0) copied = coveredTo;
          out += where.slice(copied, i) + '*';
          copied = i;
        }
        coveredTo = Math.max(coveredTo, end);
      }
      w = coveredTo < 0 ? where : out + where.slice(coveredTo);
    }
    return w.length > MAX_WHERE ? `${w.slice(0, MAX_WHERE)}…` : w;
  };
}

/** Build the audit findings, in order of first occurrence. */
export function aggregateFindings(
  detectors: Detectors,
  matches: readonly ResolvedMatch[],
  archives: readonly ResolvedArchive[],
  /** Values matched inside names that appear in paths (see sanitizeWhere). */
  secrets: readonly string[],
): AuditFinding[] {
  interface Group { type: string; where: string; action: DlpAction; fp: string; sample: string; count: number }
  const groups = new Map<string, Group>();
  const fpCache = new Map<string, string>();
  const fp = (value: string): string => {
    let f = fpCache.get(value);
    if (f === undefined) {
      f = detectors.fingerprint(value);
      fpCache.set(value, f);
    }
    return f;
  };
  const add = (type: string, where: string, action: DlpAction, f: string, sample: () => string): void => {
    const id = `${type}\u0000${where}\u0000${action}\u0000${f}`;
    const g = groups.get(id);
    if (g !== undefined) g.count++;
    else groups.set(id, { type, where, action, fp: f, sample: sample(), count: 1 });
  };
  const sanitizeWhere = whereSanitizer(secrets);
  const whereCache = new Map<string, string>();
  const safeWhere = (where: string): string => {
    let w = whereCache.get(where);
    if (w === undefined) {
      w = sanitizeWhere(where);
      whereCache.set(where, w);
    }
    return w;
  };
  for (const r of matches) {
    add(r.match.type, safeWhere(r.where), r.action, fp(r.match.value), () => detectors.mask(r.match));
  }
  for (const a of archives) {
    // The sample is the format name: archive bytes are never rendered.
    add('archive', safeWhere(a.where), a.action, fp(`archive:sha256:${a.digest}`), () => a.format);
  }
  let list = [...groups.values()];
  if (list.length > MAX_FINDINGS) {
    const collapsed = new Map<string, Group>();
    for (const g of list) {
      const id = `${g.type}\u0000${g.where}\u0000${g.action}`;
      const c = collapsed.get(id);
      if (c !== undefined) c.count += g.count;
      else collapsed.set(id, { ...g });
    }
    list = [...collapsed.values()];
  }
  return list.map((g) => ({ type: g.type, count: g.count, action: g.action, where: g.where, sample: g.sample, fp: g.fp }));
}

/**
 * Findings of a message inside a longer exchange (a WebSocket): `body…` paths become
 * `label…` (`message.text`, `ping`), so that the record says which channel carried them.
 */
export function relabelFindings(findings: readonly AuditFinding[], label: string): AuditFinding[] {
  return findings.map((f) => (f.where.startsWith('body') ? { ...f, where: label + f.where.slice(4) } : f));
}

/**
 * Findings of many scans summed into one list for one audit record, grouped as
 * aggregateFindings groups them (per value, then per (type, where, action) past MAX_FINDINGS),
 * so a long-lived connection's record stays bounded however many messages it carried.
 */
export class FindingTally {
  readonly #groups = new Map<string, { -readonly [K in keyof AuditFinding]: AuditFinding[K] }>();
  #collapsed = false;

  get size(): number {
    return this.#groups.size;
  }

  add(findings: readonly AuditFinding[], label: string): void {
    for (const f of relabelFindings(findings, label)) this.#merge(f);
    if (!this.#collapsed && this.#groups.size > MAX_FINDINGS) {
      const all = [...this.#groups.values()];
      this.#groups.clear();
      this.#collapsed = true;
      for (const f of all) this.#merge(f);
    }
  }

  #merge(f: AuditFinding): void {
    const id = this.#collapsed ? `${f.type}\u0000${f.where}\u0000${f.action}` : `${f.type}\u0000${f.where}\u0000${f.action}\u0000${f.fp}`;
    const g = this.#groups.get(id);
    if (g) g.count += f.count;
    else this.#groups.set(id, { ...f });
  }

  list(): AuditFinding[] {
    return [...this.#groups.values()].map((g) => ({ ...g }));
  }
}

/**
 * Audit file naming and discovery.
 *
 * The active file is the configured path (e.g. `audit.jsonl`). Rotation renames it to
 *
 *     <active>.<first seq, 12+ digits, zero-padded>.<UTC rotation time, YYYYMMDDTHHMMSSmmmZ>
 *     audit.jsonl.000000005001.20261122T053000123Z
 *
 * Files are ordered by the first seq they hold (then by time, which only breaks a tie when a
 * crash left a file with no whole record). Ordering by seq rather than by time keeps the order
 * right when the clock steps backwards. The active file always comes last.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const ROTATED = /^(.+)\.(\d{12,})\.(\d{8}T\d{9}Z)$/;
const ACTIVE_SUFFIX = /\.(jsonl|ndjson|log)$/;

/** The name a file gets when it is rotated out. */
export function rotatedPath(activePath: string, firstSeq: number, at: Date): string {
  const iso = at.toISOString(); // 2026-11-22T05:30:00.123Z
  const stamp = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + 'T' + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + iso.slice(20, 23) + 'Z';
  return `${activePath}.${String(Math.max(0, firstSeq)).padStart(12, '0')}.${stamp}`;
}

/** `{ base, firstSeq, stamp }` of a rotated file name, or null if the name is not one. */
export function parseRotatedName(name: string): { readonly base: string; readonly firstSeq: number; readonly stamp: string } | null {
  const m = ROTATED.exec(name);
  if (!m) return null;
  return { base: m[1]!, firstSeq: Number(m[2]), stamp: m[3]! };
}

function byRotationOrder(a: string, b: string): number {
  const pa = parseRotatedName(basename(a));
  const pb = parseRotatedName(basename(b));
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.firstSeq !== pb.firstSeq) return pa.firstSeq - pb.firstSeq;
  return pa.stamp < pb.stamp ? -1 : pa.stamp > pb.stamp ? 1 : 0;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Rotated files of the stream whose active file is `activePath`, oldest first. */
export function listRotated(activePath: string): string[] {
  const dir = dirname(activePath);
  const base = basename(activePath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => parseRotatedName(n)?.base === base)
    .map((n) => join(dir, n))
    .filter(isFile)
    .sort(byRotationOrder);
}

/** Every file of a stream in rotation order: rotated files, then the active file if present. */
export function listStreamFiles(activePath: string): string[] {
  const files = listRotated(activePath);
  if (isFile(activePath)) files.push(activePath);
  return files;
}

/** A usage problem with the paths given to verify (exit 2 in the CLI). */
export class AuditPathError extends Error {
  override readonly name = 'AuditPathError';
}

/**
 * Expand verify's arguments: a file stays as given (the caller's order is the rotation order
 * being checked); a directory becomes the files of the one stream it holds, in rotation order.
 * Throws AuditPathError for a missing path, an empty directory, or one holding several streams.
 */
export function expandAuditPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new AuditPathError(`${p}: no such file or directory`);
    }
    if (!st.isDirectory()) {
      out.push(p);
      continue;
    }
    const names = readdirSync(p).filter((n) => isFile(join(p, n)));
    const bases = new Set<string>();
    for (const n of names) {
      const r = parseRotatedName(n);
      if (r) bases.add(r.base);
      else if (ACTIVE_SUFFIX.test(n)) bases.add(n);
    }
    if (bases.size === 0) throw new AuditPathError(`${p}: no audit files (*.jsonl and their rotated copies) in this directory`);
    if (bases.size > 1) throw new AuditPathError(`${p}: several audit streams here (${[...bases].sort().join(', ')}); name the files to verify`);
    out.push(...listStreamFiles(join(p, [...bases][0]!)));
  }
  return out;
}

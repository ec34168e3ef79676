/**
 * `warden audit verify`: check a set of audit files, in rotation order, for
 *
 * - one JSON record per line, each ending in a newline (only the very last line of a file may
 *   be torn: a crash during a write; it is reported and skipped, and the chain must continue
 *   from the last whole record in the next file);
 * - seq continuity (+1 from record to record, across files);
 * - `prev` equal to the previous record's `hash` (across files too; 64 zeros before seq 1);
 * - `hash` equal to SHA-256 of the record's canonical JSON without `hash` (chain.ts);
 * - checkpoints: `last_seq`/`last_hash` equal to the record before, a valid Ed25519 signature
 *   over {first_seq, last_seq, last_hash} by the given public key (key_id must match).
 *
 * The first record given may have any seq (older files may have been archived); the summary
 * says where the checked chain starts. Truncating a file at a line boundary removes records
 * without a trace in the chain itself: that is what the signed checkpoints and the SIEM copy
 * are for, and why the summary reports records after the last checkpoint.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH, parseLine, recomputeHash } from './chain.js';
import { checkpointMessage, publicKeyFromPem, verifyCheckpoint } from './keys.js';

/** A line cut short by a crash (no trailing newline), skipped by verify. */
export interface TornLine {
  readonly file: string;
  readonly line: number;
}

/** The chain checked out. */
export interface VerifyOk {
  readonly ok: true;
  readonly files: number;
  /** Records checked, checkpoints included. */
  readonly records: number;
  readonly checkpoints: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly firstTime: string | null;
  readonly lastTime: string | null;
  /** Records after the last checkpoint (not yet covered by a signature). */
  readonly unsignedTail: number;
  /** Torn last lines (crash mid-write), skipped. */
  readonly truncated: readonly TornLine[];
  /** False when no public key was given: checkpoint signatures were not checked. */
  readonly signaturesChecked: boolean;
  /** key_id of the key the checkpoints were checked with. */
  readonly keyId: string | null;
}

/** The first problem found. `line` is 1-based; `seq` is the record's (or the expected) seq. */
export interface VerifyFailure {
  readonly ok: false;
  readonly file: string;
  readonly line: number;
  readonly seq: number | null;
  readonly message: string;
}

/** Outcome of {@link verifyAuditFiles}: a summary, or the first bad record. */
export type VerifyResult = VerifyOk | VerifyFailure;

/** Options of {@link verifyAuditFiles}. */
export interface VerifyOptions {
  /** SPKI (or private) PEM; without it checkpoint signatures are not checked. */
  readonly publicKeyPem?: string;
}

/** Calls `onLine(text, lineNo, complete)` for each line of a file, reading 1 MiB at a time. */
function forEachLine(path: string, onLine: (text: string, lineNo: number, complete: boolean) => boolean): void {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1024 * 1024);
    let carry = 0; // bytes of an unfinished line at the start of buf
    let position = 0;
    let lineNo = 0;
    for (;;) {
      if (carry === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, carry);
        buf = bigger;
      }
      const n = readSync(fd, buf, carry, buf.length - carry, position);
      position += n;
      const end = carry + n;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl === -1 || nl >= end) break;
        lineNo++;
        if (!onLine(buf.toString('utf8', start, nl), lineNo, true)) return;
        start = nl + 1;
      }
      if (n === 0) {
        if (start < end) onLine(buf.toString('utf8', start, end), lineNo + 1, false);
        return;
      }
      buf.copy(buf, 0, start, end);
      carry = end - start;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Verify audit files given in rotation order (oldest first). Synchronous; reads each file once,
 * streaming. Untrusted input: never throws for bad content (only for unreadable files).
 */
export function verifyAuditFiles(paths: readonly string[], opts: VerifyOptions = {}): VerifyResult {
  let publicKey: KeyObject | null = null;
  let keyId: string | null = null;
  if (opts.publicKeyPem !== undefined) {
    const k = publicKeyFromPem(opts.publicKeyPem);
    publicKey = k.publicKey;
    keyId = k.keyId;
  }
  let prevSeq: number | null = null;
  let prevHash: string | null = null;
  let records = 0;
  let checkpoints = 0;
  let sinceCheckpoint = 0;
  let firstSeq: number | null = null;
  let firstTime: string | null = null;
  let lastTime: string | null = null;
  const truncated: TornLine[] = [];
  let failure = null as VerifyFailure | null; // set inside the line callback

  for (const file of paths) {
    forEachLine(file, (text, lineNo, complete) => {
      const fail = (seq: number | null, message: string): false => {
        failure = { ok: false, file, line: lineNo, seq, message };
        return false;
      };
      const expected = prevSeq === null ? null : prevSeq + 1;
      if (!complete) {
        truncated.push({ file, line: lineNo });
        return true;
      }
      if (text === '') return fail(expected, 'empty line');
      const view = parseLine(text);
      if (typeof view === 'string') return fail(expected, view === 'not valid JSON' ? 'not valid JSON (damaged record)' : view);
      if (expected !== null && view.seq !== expected) {
        if (view.seq > expected) {
          const missing = view.seq - expected === 1 ? `record ${expected} is missing` : `records ${expected}..${view.seq - 1} are missing`;
          return fail(view.seq, `seq ${view.seq} follows seq ${prevSeq}: ${missing}`);
        }
        return fail(view.seq, `seq ${view.seq} follows seq ${prevSeq}: out of order or repeated (files in the wrong order?)`);
      }
      if (prevHash === null && view.seq === 1 && view.prev !== GENESIS_HASH) return fail(view.seq, 'first record of the stream does not link to the genesis hash');
      if (prevHash !== null && view.prev !== prevHash) return fail(view.seq, `prev does not match the hash of seq ${prevSeq} (a record was altered, inserted or removed)`);
      if (recomputeHash(view) !== view.hash) return fail(view.seq, 'hash mismatch: the record was altered');
      if (view.event === 'checkpoint') {
        const d = view.detail ?? {};
        const { first_seq: fs, last_seq: ls, last_hash: lh, signature, key_id: kid } = d as Record<string, unknown>;
        if (typeof fs !== 'number' || typeof ls !== 'number' || typeof lh !== 'string' || typeof signature !== 'string') {
          return fail(view.seq, 'checkpoint without first_seq, last_seq, last_hash and signature');
        }
        if (ls !== view.seq - 1 || lh !== view.prev) return fail(view.seq, `checkpoint covers seq ${ls} but follows seq ${view.seq - 1}`);
        if (publicKey) {
          if (typeof kid === 'string' && kid !== keyId) return fail(view.seq, `checkpoint signed by key ${kid}, not by the given key ${keyId}`);
          if (!verifyCheckpoint(publicKey, checkpointMessage(fs, ls, lh), signature)) {
            return fail(view.seq, `checkpoint signature does not verify with key ${keyId}`);
          }
        }
        checkpoints++;
        sinceCheckpoint = 0;
      } else {
        sinceCheckpoint++;
      }
      records++;
      firstSeq ??= view.seq;
      if (view.time !== null) {
        firstTime ??= view.time;
        lastTime = view.time;
      }
      prevSeq = view.seq;
      prevHash = view.hash;
      return true;
    });
    if (failure) return failure;
  }
  return {
    ok: true,
    files: paths.length,
    records,
    checkpoints,
    firstSeq,
    lastSeq: prevSeq,
    firstTime,
    lastTime,
    unsignedTail: sinceCheckpoint,
    truncated,
    signaturesChecked: publicKey !== null,
    keyId,
  };
}

/** One line for humans: `FILE:LINE seq N: message`, or the summary of a good chain. */
export function formatVerifyResult(r: VerifyResult): string {
  if (!r.ok) return `${r.file}:${r.line} seq ${r.seq ?? '?'}: ${r.message}`;
  if (r.records === 0) return `ok: no records in ${r.files} file(s)`;
  const parts = [
    `ok: ${r.records} records (seq ${r.firstSeq}..${r.lastSeq}) in ${r.files} file(s), ${r.checkpoints} signed checkpoint(s)${r.signaturesChecked ? ` verified with key ${r.keyId}` : ' (signatures NOT checked: no public key)'}, ${r.firstTime} .. ${r.lastTime}`,
  ];
  if (r.firstSeq !== null && r.firstSeq > 1) parts.push(`chain starts at seq ${r.firstSeq} (earlier files not given)`);
  if (r.unsignedTail > 0) parts.push(`${r.unsignedTail} record(s) after the last checkpoint are not yet signed`);
  for (const t of r.truncated) parts.push(`truncated record at ${t.file}:${t.line} (crash during a write; skipped)`);
  return parts.join('; ');
}

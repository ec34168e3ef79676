/**
 * An exclusive lock on what the audit stream writes (the audit file, the SIEM spool folder), so
 * that two Warden processes never write one chain. Without it, a second process on the same
 * volume (a second replica, a restart whose old process is still draining) recovers the same
 * chain head, and both append records with the same seq: the file no longer verifies, and the
 * spool sends records twice and out of order.
 *
 * The lock is a folder `<path>.lock`, made with mkdir (atomic, also on network file systems),
 * holding `owner.json` ({pid, host, token, since}). Its holder touches the folder every
 * `heartbeatMs`. A process that finds it waits (up to `waitMs`) for it to go away, and takes
 * it over at once when its holder is gone:
 *   - on the same host, the holder's pid no longer runs, or it is the new process's own pid
 *     (a restarted container's pid 1; this process does not hold it);
 *   - anywhere, the folder is not touched (nor its owner changed) while the waiting process
 *     watches it for `staleMs`, by the waiting process's own clock, so hosts sharing the volume
 *     need not agree on the time (a holder on another machine, or one that died between mkdir
 *     and writing owner.json).
 * A holder whose lock is removed or taken over learns it at its next heartbeat and is told
 * through `onLost` (the proxy then stops: it can no longer write the chain alone).
 *
 * Taking over is safe against other processes taking over the same lock at the same moment
 * (two replicas restarted together both see the dead pid): a lock folder appears whole, with its
 * owner.json, by renaming a prepared folder onto `<path>.lock` (a rename onto a folder that
 * exists fails); and only the process that creates the takeover marker `takeover-1` inside the
 * abandoned folder (O_EXCL) may remove it, after checking that the folder still holds the owner
 * token it judged abandoned, so a verdict on a lock that has been taken over and made anew since
 * removes nothing. A process that died holding the marker is passed over by one that has seen
 * the marker unchanged for `staleMs`, which takes `takeover-2`, and so on. Left open: a process
 * stalled for `staleMs` inside the takeover (between its check and the rename) can still remove
 * the lock made after it, as a holder stalled for `staleMs` loses its lock.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** How long to wait for a lock, and when a lock counts as abandoned. */
export interface LockTuning {
  /** Give up (LockBusyError) after waiting this long for a live holder. */
  readonly waitMs: number;
  /** A lock not touched for this long is abandoned. */
  readonly staleMs: number;
  /** How often the holder touches its lock (and checks it still holds it). */
  readonly heartbeatMs: number;
  /** How often a waiting process looks again. */
  readonly pollMs: number;
}

export const DEFAULT_LOCK_TUNING: LockTuning = { waitMs: 60_000, staleMs: 10_000, heartbeatMs: 2_000, pollMs: 250 };

export interface LockOptions {
  /** What the lock guards, for messages: "audit file", "audit spool". */
  readonly what: string;
  readonly log: Logger;
  /** Called once if the lock is removed or taken over while held. */
  readonly onLost: (why: string) => void;
  readonly tuning?: Partial<LockTuning>;
}

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly since: string;
}

/** A held lock. */
export interface HeldLock {
  /** The lock folder. */
  readonly path: string;
  /** Stop the heartbeat and remove the lock (if still ours). Idempotent. */
  release(): void;
}

/** The lock stayed held by a live process for `waitMs`. */
export class LockBusyError extends Error {
  readonly lockPath: string;
  constructor(message: string, lockPath: string) {
    super(message);
    this.name = 'LockBusyError';
    this.lockPath = lockPath;
  }
}

const OWNER = 'owner.json';
/** Lock folders this process holds, released on exit if still held. */
const held = new Map<string, () => void>();
let exitHook = false;

function readOwner(dir: string): Owner | null {
  try {
    const o = JSON.parse(readFileSync(join(dir, OWNER), 'utf8')) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string') {
      return { pid: o.pid, host: o.host, token: o.token, since: String(o.since ?? '') };
    }
  } catch {
    /* missing (being written, or its writer died first) or unreadable */
  }
  return null;
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // runs, as another user
  }
}

function describeHolder(o: Owner | null): string {
  return o === null ? 'a process that has not said who it is yet' : `pid ${o.pid} on host ${o.host}, since ${o.since}`;
}

/** What a waiting process last saw of a lock, and since when (by its own clock). */
interface Sighting {
  readonly mtimeMs: number;
  readonly token: string | null;
  readonly sinceMs: number;
}

/**
 * Why the lock at `dir` is abandoned (null while its holder may be alive), and what was seen of
 * it: a lock is stale once it has not changed for `staleMs` since the caller first saw it so.
 */
function abandoned(dir: string, staleMs: number, last: Sighting | null): { why: string | null; seen: Sighting | null; token: string | null } {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(dir).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { why: 'released', seen: null, token: null };
    throw e;
  }
  const owner = readOwner(dir);
  const token = owner?.token ?? null;
  if (owner !== null && owner.host === hostname() && !held.has(dir)) {
    if (owner.pid === process.pid) return { why: `left by an earlier process with this process's pid (${owner.pid})`, seen: null, token };
    if (!pidRuns(owner.pid)) return { why: `its holder, pid ${owner.pid}, no longer runs`, seen: null, token };
  }
  const now = Date.now();
  if (last === null || last.mtimeMs !== mtimeMs || last.token !== token) return { why: null, seen: { mtimeMs, token, sinceMs: now }, token };
  const still = now - last.sinceMs;
  return still > staleMs ? { why: `not renewed for ${Math.round(still / 1000)} s`, seen: null, token } : { why: null, seen: last, token };
}

/** Create the lock folder whole: prepared beside it, owner.json inside, then renamed into place. */
function tryCreate(dir: string, owner: Owner): boolean {
  const tmp = `${dir}.new-${owner.token}`;
  mkdirSync(tmp, { mode: 0o700 });
  try {
    writeFileSync(join(tmp, OWNER), `${JSON.stringify(owner)}\n`, { mode: 0o600 });
    renameSync(tmp, dir);
    return true;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // A folder is there (ENOTEMPTY, or EEXIST on some systems): held, or being taken over.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw e;
  }
}

const MARKER = 'takeover-';

/** The takeover markers a waiting process has seen in a lock folder, and since when (by its own clock). */
export class MarkerWatch {
  /** The highest marker number seen (0: none). */
  last = 0;
  sinceMs = 0;
}

/**
 * Remove the abandoned lock at `dir` if it is still the one judged abandoned (its owner token is
 * `token`, null for a folder without a readable owner.json), one process at a time: the one that
 * creates the next takeover marker in it (O_EXCL). Waits (false) while another process holds
 * the last marker, unless `watch` has seen it unchanged for `staleMs`. True when this call
 * removed the lock; false when it is gone, changed, or being taken over by another process.
 */
export function takeOver(dir: string, token: string | null, watch: MarkerWatch, staleMs: number): boolean {
  let last = 0;
  try {
    for (const f of readdirSync(dir)) if (f.startsWith(MARKER)) last = Math.max(last, Number(f.slice(MARKER.length)) || 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const now = Date.now();
  if (last !== watch.last) {
    watch.last = last;
    watch.sinceMs = now;
  }
  if (last > 0 && now - watch.sinceMs <= staleMs) return false;
  const marker = join(dir, `${MARKER}${last + 1}`);
  try {
    writeFileSync(marker, `${process.pid}@${hostname()}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOENT') return false;
    throw e;
  }
  if ((readOwner(dir)?.token ?? null) !== token) {
    // Not the lock judged abandoned: taken over and made anew since. Leave it as it was.
    rmSync(marker, { force: true });
    return false;
  }
  // Out of the way first (rename is atomic), so that no marker lands in it while it is removed.
  const gone = `${dir}.gone-${randomUUID()}`;
  renameSync(dir, gone);
  rmSync(gone, { recursive: true, force: true });
  return true;
}

/**
 * Take the lock on `target` (its folder is `<target>.lock`), waiting while a live process
 * holds it. Throws LockBusyError after `waitMs`, or the file system's error (EACCES…).
 */
export async function acquireLock(target: string, opts: LockOptions): Promise<HeldLock> {
  const t: LockTuning = { ...DEFAULT_LOCK_TUNING, ...opts.tuning };
  const dir = `${resolve(target)}.lock`; // resolve: a spool_dir written with a trailing slash
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  const owner: Owner = { pid: process.pid, host: hostname(), token: randomUUID(), since: new Date().toISOString() };
  const deadline = Date.now() + t.waitMs;
  let told = false;
  let seen: Sighting | null = null;
  const markers = new MarkerWatch();
  while (!tryCreate(dir, owner)) {
    const look = abandoned(dir, t.staleMs, seen);
    const why = look.why;
    seen = look.seen;
    if (why === 'released') continue;
    if (why !== null && takeOver(dir, look.token, markers, t.staleMs)) {
      opts.log.warn({ lock: dir, why }, `${opts.what}: taking over an abandoned lock`);
      continue;
    }
    // Held, or being taken over by another process (or taken over since it was looked at): wait.
    const holder = describeHolder(readOwner(dir));
    if (Date.now() >= deadline) {
      throw new LockBusyError(
        `${opts.what} ${target} is in use by another Warden process (${holder}; lock ${dir}): ` +
        'give each Warden process its own audit.file and audit.http.spool_dir, or stop the other one',
        dir,
      );
    }
    if (!told) {
      opts.log.warn({ lock: dir, holder, wait_s: Math.round(t.waitMs / 1000) }, `${opts.what} is locked by another Warden process; waiting for it to finish`);
      told = true;
    }
    await sleep(t.pollMs);
  }
  if (told) opts.log.info({ lock: dir }, `${opts.what}: lock acquired`);

  let released = false;
  let lastRenewed = Date.now();
  /** Stop holding (no more heartbeats); false when already stopped. */
  const stop = (): boolean => {
    if (released) return false;
    released = true;
    clearInterval(timer);
    held.delete(dir);
    return true;
  };
  const release = (): void => {
    if (stop() && readOwner(dir)?.token === owner.token) rmSync(dir, { recursive: true, force: true });
  };
  const lost = (why: string): void => {
    if (!stop()) return;
    opts.log.error({ lock: dir, why }, `${opts.what}: lock lost`);
    opts.onLost(why);
  };
  const timer = setInterval(() => {
    const now = readOwner(dir);
    if (now === null || now.token !== owner.token) {
      let exists = true;
      try {
        statSync(dir);
      } catch {
        exists = false;
      }
      // owner.json unreadable while the folder is ours: a transient error, unless it lasts.
      if (!exists || now !== null || Date.now() - lastRenewed > t.staleMs) {
        lost(exists && now !== null ? `taken over by ${describeHolder(now)}` : 'the lock was removed');
      }
      return;
    }
    try {
      const d = new Date();
      utimesSync(dir, d, d);
      lastRenewed = Date.now();
    } catch (e) {
      if (Date.now() - lastRenewed > t.staleMs) lost(`cannot renew it (${(e as Error).message})`);
    }
  }, t.heartbeatMs);
  timer.unref();
  held.set(dir, release);
  if (!exitHook) {
    exitHook = true;
    // A process that exits without closing its audit log (an uncaught error) frees its locks.
    process.on('exit', () => {
      for (const r of [...held.values()]) r();
    });
  }
  return { path: dir, release };
}

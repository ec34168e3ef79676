/**
 * V8 garbage-collector setting for `warden start` (test/bench/RESULTS.md, "Measured in session 7").
 *
 * A proxy moving large bodies allocates a lot of short-lived `ArrayBuffer` memory outside V8's
 * heap: every decrypted 16 KiB read, from the client and from the upstream, is one. When V8
 * decides whether to start incremental marking, it counts the external memory allocated since
 * the last full collection against the old generation's headroom. Warden's heap is ~25–30 MB
 * with ~23 MB of headroom, and 4 concurrent 8 MiB uploads swing external memory by ~30 MB between
 * scavenges (which free those buffers anyway). Whether a process then starts a full mark-compact
 * every ~70 ms depends on where external memory stood at the last one, and once there it stays
 * there. In the benchmark's full run, every Warden process did during its uploads.
 *
 * Without incremental marking, V8 runs a full collection when the old generation itself reaches
 * its limit; external memory keeps its own limit (a collection once it grows 64 MB past its level
 * at the last one). Measured in the full benchmark run, 4 slices each: 3–4 full collections per
 * process instead of ~70, uploads at 5.1 instead of 7.4 CPU ms per MiB. The cost: each of those
 * few collections marks the whole heap in one pause (8–28 ms at ~30 MB, where incremental pauses
 * took 2–12 ms), and the pause grows with the heap.
 *
 * V8 reads the flag each time it would start marking, so setting it once the process runs takes
 * effect. WARDEN_GC=default, or any incremental-marking flag given to `node`, leaves V8 as it is.
 */
import { setFlagsFromString } from 'node:v8';

export const GC_FLAGS: readonly string[] = ['--no-incremental-marking'];

/**
 * The flags Warden should set: none when WARDEN_GC is `default` or the operator gave `node` an
 * incremental-marking flag.
 */
export function gcFlagsToApply(execArgv: readonly string[], wardenGc: string | undefined): string[] {
  if (wardenGc === 'default') return [];
  return execArgv.some((a) => /^--(no-)?incremental[-_]marking/.test(a)) ? [] : [...GC_FLAGS];
}

/** Set the flags for this process (its worker threads included); returns what it set. */
export function tuneGc(): string[] {
  const flags = gcFlagsToApply(process.execArgv, process.env['WARDEN_GC']);
  for (const f of flags) setFlagsFromString(f);
  return flags;
}

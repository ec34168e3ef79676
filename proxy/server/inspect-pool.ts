/**
 * Inspection of large bodies on worker threads.
 *
 * Scanning is synchronous: an 8 MiB body holds the event loop for ~25 ms, and every other
 * connection (other agents' requests, SSE streams) waits that long. Bodies of at least
 * OFFLOAD_MIN_BYTES are therefore inspected by a worker that runs the same engine, built from the
 * same pack texts, honeytokens and fingerprint key (`spec`). Smaller bodies stay inline: the
 * hand-off costs more than their scan.
 *
 * The body reaches the worker in shared memory (a `SharedBodyArena` buffer it was read into, or
 * a copy): nothing is moved, so the proxy keeps the bytes it forwards whatever happens to the worker.
 * Moving an ArrayBuffer to the worker and back instead cost a full garbage collection of the
 * proxy's heap per body (V8 counts each returning buffer as new external memory): measured
 * ~1.4 ms of CPU per MiB more than inline inspection, where shared memory costs about the same.
 *
 * Fail closed: a job whose worker dies, or a pool whose worker cannot start, gets the
 * "uninspectable" result (`failed`), which blocks unless the profile says `uninspectable: allow`.
 *
 * Workers start when large bodies come (the first waits ~0.3 s while its worker builds the
 * engine; a proxy that never sees one keeps the ~50 MiB a worker costs), one more for each body
 * that finds them all busy, up to the pool's size. A worker that dies is replaced by the next
 * body. After a reload the old pool is retired: its workers finish what they hold, then stop.
 */
import { Worker } from 'node:worker_threads';
import { failed } from '../dlp/inspect.js';
import type { CompiledDlpPolicy } from '../config/types.js';
import type { DetectorOptions, DlpEngine, InlineBound, InspectRequest, InspectResult } from '../dlp/types.js';

/** Bodies from this size up are inspected off the event loop (~0.7 ms of scanning at 3 ms/MiB). */
export const OFFLOAD_MIN_BYTES = 256 * 1024;

/**
 * What a smaller body may spend inline (dlp/types.ts InlineBound): scan budget units (0.5-1 µs
 * each) and wall time. A body dense with candidates costs far more than its size says: 256 KiB of
 * `{"pass":"…"}` members held the event loop ~190 ms (7,000 keyed views, each a set pass over
 * random text), of phone-like numbers ~250 ms, and every other agent's request and stream waited.
 * Past either bound the inline scan stops and the body goes to a worker, which scans it again
 * whole. A 20 KiB chat request spends 0-3,000 units and 0.3-5 ms.
 */
export const INLINE_BOUND: InlineBound = Object.freeze({ units: 10_000, ms: 8 });

export interface JobMessage {
  readonly id: number;
  readonly req: Omit<InspectRequest, 'body'>;
  /** a view of a SharedArrayBuffer */
  readonly body: Uint8Array;
  readonly policy: CompiledDlpPolicy;
}

export type ReplyMessage =
  | { readonly ready: true }
  | { readonly id: number; readonly result: InspectResult; readonly scanSeconds: number };

/** A Buffer of `bytes` in fresh shared memory. */
export function sharedBody(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/** Arena buffers are sized in steps of this, so a kept buffer fits bodies of nearby sizes. */
const ARENA_GRAIN = 64 * 1024;

/**
 * Shared memory for large bodies, reused. V8 does not count a SharedArrayBuffer when it decides
 * to collect, so bodies left to the collector pile up (measured: peak RSS 270 → 990 MiB under 4
 * concurrent 8 MiB uploads). Released buffers are kept, up to `maxKeptBytes`, and handed out again.
 *
 * A buffer is released only when nothing reads it any more: after inspection when the body is not
 * forwarded as it is, else once the last slice has been copied out for the upstream write
 * (`upstreamSlices` in forward-http.ts). Released twice, or not acquired here, it is ignored; never released (an
 * error path), it is left to the collector.
 */
export class SharedBodyArena {
  readonly #free: SharedArrayBuffer[] = [];
  readonly #out = new Set<SharedArrayBuffer>();
  #kept = 0;

  constructor(readonly maxKeptBytes: number) {}

  /** A zero-offset view of `bytes` on a kept buffer that fits best, or on a new one. */
  acquire(bytes: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const cap = this.#free[i]!.byteLength;
      if (cap >= bytes && (best < 0 || cap < this.#free[best]!.byteLength)) best = i;
    }
    let sab: SharedArrayBuffer;
    if (best >= 0) {
      sab = this.#free.splice(best, 1)[0]!;
      this.#kept -= sab.byteLength;
    } else {
      sab = new SharedArrayBuffer(Math.ceil(bytes / ARENA_GRAIN) * ARENA_GRAIN);
    }
    this.#out.add(sab);
    return Buffer.from(sab, 0, bytes);
  }

  release(view: Uint8Array): void {
    const sab = view.buffer;
    if (!(sab instanceof SharedArrayBuffer) || !this.#out.delete(sab)) return;
    if (this.#kept + sab.byteLength > this.maxKeptBytes) return;
    this.#free.push(sab);
    this.#kept += sab.byteLength;
  }

  /** Bytes kept for reuse. */
  get kept(): number {
    return this.#kept;
  }

  /** Buffers handed out and not yet released. */
  get out(): number {
    return this.#out.size;
  }
}

interface Pending {
  resolve(r: InspectResult): void;
  readonly policy: CompiledDlpPolicy;
  /** performance.now() when the job was sent */
  readonly sentAt: number;
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Pending>;
  ready: boolean;
}

export interface InspectPoolOptions {
  /** Where a body not already in shared memory is copied for the worker (else fresh memory). */
  readonly arena?: SharedBodyArena;
  /** Called once when a worker fails to start or dies (no request data in `reason`). */
  readonly onFailure?: (reason: string) => void;
  /** Jobs in flight across the pool, after each change (a gauge). */
  readonly onQueue?: (inFlight: number) => void;
  /**
   * Each answered job: the worker's scan time, and the rest of the time from send to answer
   * (queued behind other bodies on the worker, and the messages). Not called for a job that fails.
   */
  readonly onScan?: (scanSeconds: number, waitSeconds: number) => void;
}

const WORKER_URL = new URL('./inspect-worker.js', import.meta.url);

export class InspectPool {
  readonly #spec: DetectorOptions;
  readonly #size: number;
  readonly #opts: InspectPoolOptions;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #inFlight = 0;
  #state: 'open' | 'retiring' | 'closed' = 'open';
  /** a worker could not build its engine: every later body is inspected inline */
  #broken = false;

  constructor(spec: DetectorOptions, size: number, opts: InspectPoolOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('pool size must be a positive integer');
    this.#spec = spec;
    this.#size = size;
    this.#opts = opts;
  }

  /** Whether a body of `bytes` goes to a worker (false once the pool is broken, retired or closed). */
  wants(bytes: number): boolean {
    return bytes >= OFFLOAD_MIN_BYTES && this.open;
  }

  /** Whether the pool takes jobs (not broken, retired or closed). */
  get open(): boolean {
    return this.#state === 'open' && !this.#broken;
  }

  /** Jobs sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Workers running. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Inspect on a worker; `req.body` is left as it is (read-only shared, or copied). */
  inspect(req: InspectRequest, policy: CompiledDlpPolicy): Promise<InspectResult> {
    const { body, ...rest } = req;
    let shared: Uint8Array = body;
    let copied = false;
    if (!(body.buffer instanceof SharedArrayBuffer)) {
      shared = this.#opts.arena ? this.#opts.arena.acquire(body.length) : sharedBody(body.length);
      shared.set(body);
      copied = true;
    }
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<InspectResult>((resolve) => {
      const done = (r: InspectResult): void => {
        if (copied) this.#opts.arena?.release(shared); // the worker has answered: nobody reads the copy
        resolve(r);
      };
      slot.jobs.set(id, { resolve: done, policy, sentAt: performance.now() });
      slot.worker.ref(); // a worker with work keeps the process alive until it answers
      this.#count(+1);
      try {
        slot.worker.postMessage({ id, req: rest, body: shared, policy } satisfies JobMessage);
      } catch {
        // e.g. a header value that cannot be cloned: never skip the scan, answer uninspectable.
        this.#settle(slot, id, failed(policy, 'inspection worker unavailable'));
      }
    });
  }

  /** Stop taking jobs; stop each worker once it has answered what it holds. */
  retire(): void {
    if (this.#state !== 'open') return;
    this.#state = 'retiring';
    for (const s of [...this.#slots]) if (s.jobs.size === 0) this.#stop(s);
  }

  /** Stop every worker now; jobs still out get the uninspectable result. */
  async close(): Promise<void> {
    this.#state = 'closed';
    const slots = [...this.#slots];
    for (const s of slots) this.#fail(s, 'inspection worker stopped');
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #pick(): Slot {
    let best: Slot | null = null;
    for (const s of this.#slots) if (!best || s.jobs.size < best.jobs.size) best = s;
    if (best && (best.jobs.size === 0 || this.#slots.length >= this.#size)) return best;
    return this.#spawn();
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL, { workerData: this.#spec });
    worker.unref(); // an idle pool never keeps the process alive
    const slot: Slot = { worker, jobs: new Map(), ready: false };
    this.#slots.push(slot);
    worker.on('message', (m: ReplyMessage) => {
      if ('ready' in m) slot.ready = true;
      else this.#settle(slot, m.id, revive(m.result), m.scanSeconds);
    });
    worker.on('error', (err) => {
      // The message is about the worker, not about a request (no body text reaches it).
      if (!slot.ready) this.#broken = true;
      this.#opts.onFailure?.(`${slot.ready ? 'inspection worker died' : 'inspection worker failed to start'}: ${err.name}`);
      this.#fail(slot, 'inspection worker failed');
    });
    worker.on('exit', () => this.#fail(slot, 'inspection worker exited'));
    return slot;
  }

  /** Answer job `id`; `scanSeconds` is the worker's own timing, absent when the job failed. */
  #settle(slot: Slot, id: number, result: InspectResult, scanSeconds?: number): void {
    const p = slot.jobs.get(id);
    if (!p) return;
    slot.jobs.delete(id);
    if (scanSeconds !== undefined) {
      const total = (performance.now() - p.sentAt) / 1000;
      this.#opts.onScan?.(scanSeconds, Math.max(0, total - scanSeconds));
    }
    this.#count(-1);
    if (slot.jobs.size === 0) {
      if (this.#state === 'retiring') this.#stop(slot);
      else slot.worker.unref();
    }
    p.resolve(result);
  }

  #stop(slot: Slot): void {
    this.#drop(slot);
    void slot.worker.terminate();
  }

  #drop(slot: Slot): void {
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
  }

  /** Answer the slot's jobs as uninspectable and forget the slot (a later job spawns a new one). */
  #fail(slot: Slot, detail: string): void {
    this.#drop(slot);
    for (const [id, p] of [...slot.jobs]) this.#settle(slot, id, failed(p.policy, detail));
  }

  #count(d: number): void {
    this.#inFlight += d;
    this.#opts.onQueue?.(this.#inFlight);
  }
}

/** Structured clone turns Buffers into Uint8Arrays. */
function revive(r: InspectResult): InspectResult {
  return r.body ? { ...r, body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) } : r;
}

/**
 * Inspect a body where it costs the event loop least: a large one on a worker, a smaller one
 * inline, handed to a worker once it has spent INLINE_BOUND (without an open pool, inline
 * whatever it costs). `onInlineScan` gets the seconds an inline scan took.
 */
export function inspectOffLoop(
  engine: DlpEngine,
  pool: InspectPool | null,
  req: InspectRequest,
  policy: CompiledDlpPolicy,
  onInlineScan: (seconds: number) => void,
): InspectResult | Promise<InspectResult> {
  const open = pool !== null && pool.open ? pool : null;
  if (open !== null && open.wants(req.body.length)) return open.inspect(req, policy);
  const t0 = performance.now();
  const inline = open !== null ? engine.inspectWithin(req, policy, INLINE_BOUND) : engine.inspect(req, policy);
  onInlineScan((performance.now() - t0) / 1000);
  return inline ?? open!.inspect(req, policy);
}

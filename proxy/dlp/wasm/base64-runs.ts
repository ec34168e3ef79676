/**
 * The SIMD base64-run finder of base64-runs.wat, instantiated once per process. It finds the
 * same runs as the scalar loop in ../decode-base64.ts (someBase64RunScalar; the unit test
 * compares the two on every byte value and on random texts), at ~0.2 ns per byte instead of
 * ~0.6 on chat text.
 */
import { BASE64_RUNS_WASM } from './base64-runs.wasm.js';

/**
 * Longest text copied into the module's memory. WebAssembly memory never shrinks, so this is the
 * most a process keeps for it; longer texts go to the scalar loop.
 */
export const WASM_SCAN_MAX = 8 << 20;
/** Zero bytes after the text: a zero ends any run, and the module reads 64 bytes at a time. */
const PAD = 64;
const PAGE = 64 * 1024;

// The parts of the WebAssembly API used here (the project's TypeScript lib has no WebAssembly
// declarations: it is ES2023 without the DOM, and @types/node 20 does not add them).
declare const WebAssembly: {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
};

interface Base64RunsExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  runEnd(): number;
  nextRun(from: number, end: number): number;
  hasControl(end: number): number;
}

function instantiate(): Base64RunsExports | null {
  try {
    const module = new WebAssembly.Module(Buffer.from(BASE64_RUNS_WASM, 'base64'));
    return new WebAssembly.Instance(module).exports as unknown as Base64RunsExports;
  } catch {
    return null; // a CPU without 128-bit SIMD: the scalar loop does the work
  }
}

const wasm = instantiate();
/** A view of the module's memory; replaced when the memory grows (growing detaches it). */
let memory = new Uint8Array(wasm?.memory.buffer ?? new ArrayBuffer(0));
/** A search is under way (see someBase64RunSimd). */
let busy = false;

/** Whether the SIMD finder runs on this machine. */
export const simdBase64Runs = wasm !== null;

/**
 * The runs of at least 24 base64-alphabet bytes in `b`, each with up to two `=` after it, passed
 * to `visit` until it returns true (then true); null when `b` is over WASM_SCAN_MAX or the module
 * is unavailable, and the caller must use the scalar loop. Also null for a search started from
 * inside `visit`, which would overwrite the copy of `b` the outer search is reading. With
 * `controls`, also true when no `visit` was and `b` holds a control character other than tab, LF
 * and CR (the module's hasControl, over the copy the search made: ~0.3 ms per 4 MiB more).
 */
export function someBase64RunSimd(b: Uint8Array, visit: (start: number, end: number) => boolean, controls = false): boolean | null {
  if (wasm === null || b.length > WASM_SCAN_MAX || busy) return null;
  busy = true;
  try {
    return scan(wasm, b, visit) || (controls && wasm.hasControl(b.length) !== 0);
  } finally {
    busy = false;
  }
}

function scan(module: Base64RunsExports, b: Uint8Array, visit: (start: number, end: number) => boolean): boolean {
  const n = b.length;
  if (memory.length < n + PAD) {
    module.memory.grow(Math.ceil((n + PAD - memory.length) / PAGE));
    memory = new Uint8Array(module.memory.buffer);
  }
  memory.set(b, 0);
  memory.fill(0, n, n + PAD);
  let from = 0;
  for (;;) {
    const start = module.nextRun(from, n);
    if (start < 0) return false;
    let end = module.runEnd(); // a call: reading an exported global costs more
    let pad = 0;
    while (pad < 2 && end < n && b[end] === 0x3D) { end++; pad++; }
    if (visit(start, end)) return true;
    from = end;
  }
}

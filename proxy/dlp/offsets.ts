/**
 * Byte → UTF-16 offset mapping. Every pattern runs on the UTF-8 Buffer of a view (one
 * conversion per scan instead of one per regex call: node-re2 converts strings to UTF-8 on
 * each call), and re2 reports byte offsets for Buffers (node-re2 README: "All offsets and
 * lengths are in bytes"). Findings carry UTF-16 offsets into `view.text`, so we map back.
 */

const STRIDE = 256;

export class Utf8Offsets {
  private readonly ascii: boolean;
  /** Per slot: first code point boundary at or after slot*STRIDE, and its UTF-16 offset. */
  private bytePos: Uint32Array | null = null;
  private unitPos: Uint32Array | null = null;

  constructor(private readonly buf: Buffer, text: string) {
    this.ascii = buf.length === text.length;
  }

  /** UTF-16 offset of byte offset `b` (a code point boundary, as re2 match offsets are). */
  toUtf16(b: number): number {
    if (this.ascii) return b;
    if (this.bytePos === null || this.unitPos === null) this.build();
    const bytePos = this.bytePos as Uint32Array;
    const unitPos = this.unitPos as Uint32Array;
    let slot = Math.min(Math.floor(b / STRIDE), bytePos.length - 1);
    while (slot > 0 && (bytePos[slot] ?? 0) > b) slot--;
    let pos = bytePos[slot] ?? 0;
    let u = unitPos[slot] ?? 0;
    while (pos < b) {
      const c = this.buf[pos] ?? 0;
      const len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      u += len === 4 ? 2 : 1;
      pos += len;
    }
    return u;
  }

  private build(): void {
    const n = Math.floor(this.buf.length / STRIDE) + 1;
    const bytePos = new Uint32Array(n);
    const unitPos = new Uint32Array(n);
    let pos = 0;
    let u = 0;
    for (let slot = 0; slot < n; slot++) {
      const target = slot * STRIDE;
      while (pos < target && pos < this.buf.length) {
        const c = this.buf[pos] ?? 0;
        const len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        u += len === 4 ? 2 : 1;
        pos += len;
      }
      bytePos[slot] = pos;
      unitPos[slot] = u;
    }
    this.bytePos = bytePos;
    this.unitPos = unitPos;
  }
}

;; Runs of base64 alphabet bytes ([A-Za-z0-9+/_-], both alphabets) of at least 24 bytes, found
;; with 128-bit SIMD. The fast path (../inspect.ts) looks for such runs in every clean body; the
;; scalar loop this replaces there (someBase64RunScalar in ../decode-base64.ts, kept for long
;; texts and as the reference test/unit/dlp/base64-runs.test.ts compares this with) spent
;; ~2.5 ms per 4 MiB of chat text, most of it in mispredicted branches; this takes ~0.6 ms.
;;
;; The host copies the text to offset 0 of `memory` and zeroes the 64 bytes after it: a zero
;; byte is outside the alphabet, so no run crosses the end, and the 64-byte reads stay in bounds.
;;
;; After editing, `npm run build:wasm` rewrites base64-runs.wasm.ts, which the proxy loads.
(module
  (memory (export "memory") 1)

  ;; End (exclusive) of the run that nextRun last returned.
  (global $runEnd (mut i32) (i32.const 0))
  (func (export "runEnd") (result i32) (global.get $runEnd))

  ;; Start of the first run of at least 24 alphabet bytes in [from, end) that starts at or after
  ;; `from` (a byte before `from` is never part of it), or -1; runEnd() is then its end.
  ;;
  ;; Classification, 16 bytes at a time, by nibbles (as simdjson does): each high nibble that
  ;; holds alphabet bytes has a bit, and the low-nibble table sets that bit for the low nibbles in
  ;; the alphabet under it. A byte is outside when the two lookups share no bit.
  ;;   high 2: + - /      (low B, D, F)    bit 1
  ;;   high 3: 0-9        (low 0-9)        bit 2
  ;;   high 4, 6: A-O a-o (low 1-F)        bit 4
  ;;   high 5: P-Z _      (low 0-A, F)     bit 8
  ;;   high 7: p-z        (low 0-A)        bit 16
  ;; High nibbles 0, 1 and 8-F (controls, space, punctuation, every non-ASCII byte) map to 0.
  ;; The 16-byte step is written out four times below: Node 20's V8 does not inline wasm calls,
  ;; and a call per step took ~1.1 ms per 4 MiB instead of ~0.6.
  ;;
  ;; 64 bytes at a time: m has a bit per byte outside the alphabet. A run either continues the
  ;; c alphabet bytes that ended the previous block (c < 24, or it would have been found there)
  ;; with this block's ctz(m) leading alphabet bytes, or lies wholly inside the block, where
  ;; y (bit i set when bits i..i+23 of ~m are all set) gives its first byte.
  (func (export "nextRun") (param $from i32) (param $end i32) (result i32)
    (local $q i32) (local $c i32) (local $start i32) (local $p i32) (local $nm i32)
    (local $m i64) (local $b i64) (local $y4 i64) (local $y i64)
    (local $v v128) (local $lo v128) (local $hi v128) (local $nibble v128) (local $zero v128)
    (local.set $lo (v128.const i8x16 26 30 30 30 30 30 30 30 30 30 28 5 4 5 4 13))
    (local.set $hi (v128.const i8x16 0 0 1 2 4 8 4 16 0 0 0 0 0 0 0 0))
    (local.set $nibble (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (local.set $zero (v128.const i64x2 0 0))
    (local.set $q (local.get $from))
    (block $found
      (loop $block
        (if (i32.ge_u (local.get $q) (local.get $end)) (then (return (i32.const -1))))
        (local.set $m
          (i64.or
            (i64.or
              (i64.extend_i32_u
                (i8x16.bitmask (i8x16.eq (v128.and
                  (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=0 (local.get $q))) (local.get $nibble)))
                  (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))
                  (local.get $zero))))
              (i64.shl
                (i64.extend_i32_u
                  (i8x16.bitmask (i8x16.eq (v128.and
                    (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=16 (local.get $q))) (local.get $nibble)))
                    (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))
                    (local.get $zero))))
                (i64.const 16)))
            (i64.or
              (i64.shl
                (i64.extend_i32_u
                  (i8x16.bitmask (i8x16.eq (v128.and
                    (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=32 (local.get $q))) (local.get $nibble)))
                    (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))
                    (local.get $zero))))
                (i64.const 32))
              (i64.shl
                (i64.extend_i32_u
                  (i8x16.bitmask (i8x16.eq (v128.and
                    (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=48 (local.get $q))) (local.get $nibble)))
                    (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))
                    (local.get $zero))))
                (i64.const 48)))))
        ;; The run carried in from the previous block.
        (if (i32.ge_u (i32.add (local.get $c) (i32.wrap_i64 (i64.ctz (local.get $m)))) (i32.const 24))
          (then
            (local.set $start (i32.sub (local.get $q) (local.get $c)))
            (br $found)))
        ;; A run inside the block.
        (local.set $b (i64.xor (local.get $m) (i64.const -1)))
        (local.set $b (i64.and (local.get $b) (i64.shr_u (local.get $b) (i64.const 1))))
        (local.set $b (i64.and (local.get $b) (i64.shr_u (local.get $b) (i64.const 2))))
        (local.set $y4 (i64.and (local.get $b) (i64.shr_u (local.get $b) (i64.const 4))))
        (local.set $y
          (i64.and
            (i64.and (local.get $y4) (i64.shr_u (local.get $y4) (i64.const 8)))
            (i64.shr_u (local.get $y4) (i64.const 16))))
        (if (i64.ne (local.get $y) (i64.const 0))
          (then
            (local.set $start (i32.add (local.get $q) (i32.wrap_i64 (i64.ctz (local.get $y)))))
            (br $found)))
        ;; m is not 0 here (64 alphabet bytes would have been found): its leading zeros count the
        ;; alphabet bytes that end the block.
        (local.set $c (i32.wrap_i64 (i64.clz (local.get $m))))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (br $block)))
    ;; Bytes start..start+23 are in the alphabet: find the first byte after them that is not.
    (local.set $p (i32.add (local.get $start) (i32.const 24)))
    (loop $extend
      (local.set $nm
        (i8x16.bitmask (i8x16.eq (v128.and
          (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load (local.get $p))) (local.get $nibble)))
          (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))
          (local.get $zero))))
      (if (i32.eqz (local.get $nm))
        (then
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $extend))))
    (global.set $runEnd (i32.add (local.get $p) (i32.ctz (local.get $nm))))
    (local.get $start))

  ;; Whether [0, end) holds a control character other than tab, LF and CR: a C0 control or DEL.
  ;; normalize.ts strips them from every view's text; normalizeBytes, which the fast path uses,
  ;; does not, so the fast path leaves such a text to the full path (../inspect.ts). Classified by
  ;; nibbles as in nextRun:
  ;;   high 0: 00-08, 0B, 0C, 0E, 0F   bit 1
  ;;   high 1: 10-1F                   bit 2
  ;;   high 7: 7F                      bit 4
  ;; 64 bytes a step while they lie before `end`, then one at a time (the zeros after the text
  ;; would read as controls).
  (func (export "hasControl") (param $end i32) (result i32)
    (local $q i32) (local $c i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $nibble v128) (local $acc v128)
    (local.set $lo (v128.const i8x16 3 3 3 3 3 3 3 3 3 2 2 3 3 2 3 7))
    (local.set $hi (v128.const i8x16 1 2 0 0 0 0 0 4 0 0 0 0 0 0 0 0))
    (local.set $nibble (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (local.set $acc (v128.const i64x2 0 0))
    (block $blocks
      (loop $block
        (br_if $blocks (i32.gt_u (i32.add (local.get $q) (i32.const 64)) (local.get $end)))
        (local.set $acc (v128.or (local.get $acc) (v128.and
          (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=0 (local.get $q))) (local.get $nibble)))
          (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))))
        (local.set $acc (v128.or (local.get $acc) (v128.and
          (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=16 (local.get $q))) (local.get $nibble)))
          (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))))
        (local.set $acc (v128.or (local.get $acc) (v128.and
          (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=32 (local.get $q))) (local.get $nibble)))
          (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))))
        (local.set $acc (v128.or (local.get $acc) (v128.and
          (i8x16.swizzle (local.get $lo) (v128.and (local.tee $v (v128.load offset=48 (local.get $q))) (local.get $nibble)))
          (i8x16.swizzle (local.get $hi) (i8x16.shr_u (local.get $v) (i32.const 4))))))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (br $block)))
    (if (v128.any_true (local.get $acc)) (then (return (i32.const 1))))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $q)))
        (if (i32.or
              (i32.and (i32.lt_u (local.get $c) (i32.const 32))
                (i32.and (i32.ne (local.get $c) (i32.const 9))
                  (i32.and (i32.ne (local.get $c) (i32.const 10)) (i32.ne (local.get $c) (i32.const 13)))))
              (i32.eq (local.get $c) (i32.const 127)))
          (then (return (i32.const 1))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $byte)))
    (i32.const 0))
)

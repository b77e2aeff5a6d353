;; The check word of an event record (native/rondo/events.cc, EventCheck), for the JavaScript
;; writer (src/store/events-js.ts): JavaScript has no 64-bit multiply short of BigInt, so this
;; module does the fold. Built into src/store/events-check-wasm.ts by scripts/build-events-check.js.
;;
;; Memory (64 KiB, one page) holds a record as the ring will: bytes 8..32 its words 1..3 (the
;; time, topic/type/flags, and the length in the low half of word 3), its payload from byte 32,
;; zero-padded to 8. check(len) folds words 1 and 2, the length and the padded payload words,
;; stores the check in the high half of word 3, and returns it.
(module
  (memory (export "memory") 1 1)
  (func (export "check") (param $len i32) (result i32)
    (local $h i64) (local $p i32) (local $end i32) (local $c i32)
    (local.set $h (i64.const 0x9E3779B97F4A7C15))
    ;; h = (h ^ w) * 0xFF51AFD7ED558CCD; h ^= h >> 29, for w = word 1, word 2, the length
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load (i32.const 8))) (i64.const 0xFF51AFD7ED558CCD)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load (i32.const 16))) (i64.const 0xFF51AFD7ED558CCD)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (local.get $len))) (i64.const 0xFF51AFD7ED558CCD)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $p (i32.const 32))
    (local.set $end (i32.add (i32.const 32) (i32.and (i32.add (local.get $len) (i32.const 7)) (i32.const -8))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load (local.get $p))) (i64.const 0xFF51AFD7ED558CCD)))
        (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $next)))
    (local.set $c (i32.wrap_i64 (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32)))))
    (i32.store (i32.const 28) (local.get $c))
    (local.get $c)))

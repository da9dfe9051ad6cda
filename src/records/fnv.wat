;; FNV-1a 64 over the JSON-escaped form of a UTF-16 string (the hot loop of stableId).
;;
;; The caller writes the string's code units (UTF-16LE) at address 0, loads the hash state with
;; setState, and calls run(from, n). run hashes code units [from, n) exactly as JSON.stringify would
;; emit them (without the enclosing quotes): plain units as they are, '"' and '\' after a backslash,
;; and \b \t \n \f \r as two-char escapes. At any other control char or at a surrogate it stops and
;; returns that index, for the caller to hash the escape (rare); otherwise it returns n.
;; Regenerate src/records/fnv-wasm.ts with `npm run build:wasm` after editing this file.
(module
  (memory (export "memory") 1)
  (global $h (mut i64) (i64.const 0))

  (func (export "setState") (param $lo i32) (param $hi i32)
    (global.set $h
      (i64.or
        (i64.extend_i32_u (local.get $lo))
        (i64.shl (i64.extend_i32_u (local.get $hi)) (i64.const 32)))))

  (func (export "lo") (result i32)
    (i32.wrap_i64 (global.get $h)))

  (func (export "hi") (result i32)
    (i32.wrap_i64 (i64.shr_u (global.get $h) (i64.const 32))))

  (func (export "run") (param $i i32) (param $n i32) (result i32)
    (local $h i64)
    (local $c i32)
    (local $e i32)
    (local.set $h (global.get $h))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load16_u (i32.shl (local.get $i) (i32.const 1))))
        (if (i32.and
              (i32.ge_u (local.get $c) (i32.const 0x20))
              (i32.and (i32.ne (local.get $c) (i32.const 0x22)) (i32.ne (local.get $c) (i32.const 0x5c))))
          (then
            ;; a surrogate (0xd800..0xdfff) is left to the caller
            (br_if $done (i32.eq (i32.and (local.get $c) (i32.const 0xf800)) (i32.const 0xd800)))
            (local.set $h
              (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (local.get $c))) (i64.const 0x100000001b3))))
          (else
            (local.set $e (local.get $c))
            (if (i32.lt_u (local.get $c) (i32.const 0x20))
              (then
                (local.set $e (i32.const 0))
                (if (i32.eq (local.get $c) (i32.const 8)) (then (local.set $e (i32.const 0x62))))
                (if (i32.eq (local.get $c) (i32.const 9)) (then (local.set $e (i32.const 0x74))))
                (if (i32.eq (local.get $c) (i32.const 10)) (then (local.set $e (i32.const 0x6e))))
                (if (i32.eq (local.get $c) (i32.const 12)) (then (local.set $e (i32.const 0x66))))
                (if (i32.eq (local.get $c) (i32.const 13)) (then (local.set $e (i32.const 0x72))))
                (br_if $done (i32.eqz (local.get $e)))))
            (local.set $h (i64.mul (i64.xor (local.get $h) (i64.const 0x5c)) (i64.const 0x100000001b3)))
            (local.set $h
              (i64.mul (i64.xor (local.get $h) (i64.extend_i32_u (local.get $e))) (i64.const 0x100000001b3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (global.set $h (local.get $h))
    (local.get $i)))

;; entrypoints.wat — a module with two entry points, for WasmEntryPoint:
;;   _start     writes "entry: _start\n"
;;   alt_entry  writes "entry: alt_entry\n"
;; Each writes with fd_write to stdout and returns (success).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "entry: _start\n")
  (data (i32.const 128) "entry: alt_entry\n")

  ;; write(1, ptr, len) through one iovec at address 0; bytes written land at address 16.
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))

  (func (export "_start")
    (call $write (i32.const 64) (i32.const 14)))

  (func (export "alt_entry")
    (call $write (i32.const 128) (i32.const 17))))

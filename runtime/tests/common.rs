//! Shared helpers for the runtime's integration tests: WAT modules that speak WASI preview 1.

#![allow(dead_code)]

use wasm_runtime::engine::EngineSettings;
use wasm_runtime::{Limits, LoadedModule, MemoryIo, Outcome, Request, Runtime};

/// A runtime without pooling (tests create many engines).
pub fn runtime() -> Runtime {
    Runtime::new(
        EngineSettings {
            pooling: false,
            ..Default::default()
        },
        None,
        None,
    )
    .expect("runtime")
}

/// Escapes bytes for a WAT data segment.
pub fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The imports and helpers every test module uses. `$write(ptr, len)` writes to stdout.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; iovec at 0..8, result count at 8, scratch buffer at 1024..
  (func $write_fd (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func $write (param $ptr i32) (param $len i32)
    (drop (call $write_fd (i32.const 1) (local.get $ptr) (local.get $len))))
"#;

/// A module whose `_start` runs `body` with `data` at offset 4096.
pub fn module(data: &[u8], body: &str) -> Vec<u8> {
    let wat = format!(
        "(module {PRELUDE} (data (i32.const 4096) \"{}\") (func (export \"_start\") {body}))",
        wat_bytes(data)
    );
    wat::parse_str(&wat).expect("valid WAT")
}

/// Prints `text` to stdout once.
pub fn printer(text: &[u8]) -> Vec<u8> {
    module(
        text,
        &format!("(call $write (i32.const 4096) (i32.const {}))", text.len()),
    )
}

/// Copies stdin to stdout until end of input.
pub fn echo(prefix: &[u8]) -> Vec<u8> {
    module(
        prefix,
        &format!(
            r#"(call $write (i32.const 4096) (i32.const {}))
            (block $done
              (loop $more
                (i32.store (i32.const 16) (i32.const 8192))
                (i32.store (i32.const 20) (i32.const 32768))
                (br_if $done (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
                (br_if $done (i32.eqz (i32.load (i32.const 24))))
                (call $write (i32.const 8192) (i32.load (i32.const 24)))
                (br $more)))"#,
            prefix.len()
        ),
    )
}

/// Runs `wasm` with `body` as stdin and default limits.
pub fn run(
    rt: &Runtime,
    wasm: &[u8],
    cgi: bool,
    limits: Limits,
    body: &[u8],
) -> (Outcome, MemoryIo) {
    let dir = tempdir();
    let path = dir.join("m.wasm");
    std::fs::write(&path, wasm).unwrap();
    let module = rt.load_module(&path).expect("load");
    let mut io = MemoryIo {
        body: body.to_vec(),
        ..Default::default()
    };
    let req = Request {
        limits,
        ..request(&module, cgi)
    };
    let outcome = rt.run(&req, &mut io);
    (outcome, io)
}

/// A fresh temporary folder.
pub fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wasm-runtime-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A request for `module` with no args, env or dirs, default limits, entry point `_start`.
pub fn request(module: &LoadedModule, cgi: bool) -> Request<'_> {
    Request {
        module,
        entry_point: "_start",
        argv0: "m.wasm",
        args: vec![],
        env: vec![],
        dirs: vec![],
        cgi,
        map_cgi_filenames: false,
        limits: Limits::default(),
        http: None,
        outbound: Vec::new(),
    }
}

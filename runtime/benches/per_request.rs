//! Per-request cost of the runtime alone (no Apache): instantiate + run + tear down, single
//! thread, with the pooling allocator on and off; for a component also instantiation alone.
//!
//! `cargo bench -p wasm_runtime --bench per_request [-- MODULE.wasm ...]`
//! Without arguments it measures a WAT hello; with paths, each module or component given (e.g.
//! the C hello `build/wasm/hello.wasm`, its command component `build/components/hello.wasm`, the
//! Python wasi:http component `build/components/python-http.wasm`, asked `GET /`). Prints µs per
//! request and requests per second.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;

use wasm_runtime::compiled::Code;
use wasm_runtime::component_state::ComponentState;
use wasm_runtime::engine::EngineSettings;
use wasm_runtime::http_head::HttpHead;
use wasm_runtime::outbound::OutboundPolicy;
use wasm_runtime::streams::IoBridge;
use wasm_runtime::{Limits, MemoryIo, Request, RunStatus, Runtime};

const WAT_HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

fn measure(rt: &Runtime, path: &std::path::Path, budget: Duration) -> (f64, u64) {
    let module = rt.load_module(path).expect("load");
    let argv0 = path.file_name().unwrap().to_string_lossy().into_owned();
    let run_once = || {
        let mut io = MemoryIo::default();
        let req = Request {
            module: &module,
            entry_point: "_start",
            argv0: &argv0,
            args: vec![],
            env: vec![("GREETING", "hi")],
            dirs: vec![],
            cgi: false,
            map_cgi_filenames: false,
            limits: Limits::default(),
            http: Some(HttpHead {
                method: "GET",
                path_with_query: "/",
                scheme: "http",
                authority: "localhost",
                headers: vec![("accept", "*/*")],
            }),
            outbound: Vec::new(),
        };
        let outcome = rt.run(&req, &mut io);
        assert_eq!(outcome.status, RunStatus::Ok, "{}", outcome.message());
    };
    timed(run_once, budget)
}

/// Instantiation alone (a component's pre-linked instance in a fresh store, then dropped).
fn measure_instantiate(
    rt: &Runtime,
    path: &std::path::Path,
    budget: Duration,
) -> Option<(f64, u64)> {
    let module = rt.load_module(path).expect("load");
    let pre = match &module.code {
        Code::Http(pre) => pre.instance_pre().clone(),
        Code::Command(pre) => pre.instance_pre().clone(),
        Code::Core(_) => return None,
    };
    rt.ensure_ticker();
    let mut io = MemoryIo::default();
    // SAFETY: `io` outlives every store made here; detached before it goes.
    let bridge = unsafe { IoBridge::attach(&mut io, false, u64::MAX, Instant::now() + budget * 4) };
    let once = || {
        let state = ComponentState::new(
            wasmtime_wasi::WasiCtxBuilder::new().build(),
            wasmtime::StoreLimits::default(),
            Arc::new(OutboundPolicy::default()),
            bridge.clone(),
        );
        let mut store = wasmtime::Store::new(rt.engine(), state);
        store.set_epoch_deadline(u64::MAX / 2);
        wasmtime_wasi::runtime::in_tokio(pre.instantiate_async(&mut store)).expect("instantiate");
    };
    let result = timed(once, budget);
    bridge.detach();
    Some(result)
}

fn timed(run_once: impl Fn(), budget: Duration) -> (f64, u64) {
    for _ in 0..200 {
        run_once();
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            run_once();
        }
        n += 100;
    }
    let per = started.elapsed().as_secs_f64() / n as f64;
    (per * 1e6, n)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut modules: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let dir = std::env::temp_dir().join(format!("per-request-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if modules.is_empty() {
        let path = dir.join("wat-hello.wasm");
        std::fs::write(&path, wat::parse_str(WAT_HELLO).unwrap()).unwrap();
        modules.push(path);
    }
    println!(
        "{:<28} {:>10} {:>12} {:>12}",
        "module", "pooling", "µs/request", "requests/s"
    );
    for path in &modules {
        for pooling in [true, false] {
            let rt = Runtime::new(
                EngineSettings {
                    pooling,
                    pooling_max_instances: 16,
                    ..Default::default()
                },
                None,
                None,
            )
            .expect("runtime");
            let (us, _) = measure(&rt, path, Duration::from_secs(2));
            println!(
                "{:<28} {:>10} {:>12.1} {:>12.0}",
                path.file_name().unwrap().to_string_lossy(),
                if pooling { "on" } else { "off" },
                us,
                1e6 / us
            );
            if let Some((us, _)) = measure_instantiate(&rt, path, Duration::from_secs(2)) {
                println!(
                    "{:<28} {:>10} {:>12.1} {:>12.0}",
                    "  instantiation alone",
                    if pooling { "on" } else { "off" },
                    us,
                    1e6 / us
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

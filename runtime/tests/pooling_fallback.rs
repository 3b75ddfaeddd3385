//! When the pooling allocator cannot reserve its address space, the runtime falls back to
//! on-demand allocation, says so in the log, and still serves. (Its own test binary: it lowers
//! this process's address-space limit.)

mod common;

use std::sync::{Arc, Mutex};

use wasm_runtime::engine::EngineSettings;
use wasm_runtime::{LogLevel, Logger, RunStatus, Runtime};

#[test]
fn falls_back_to_on_demand_allocation_with_a_log_line() {
    // 16 GiB of address space: far less than 1000 pooled 4 GiB slots need.
    let limit = libc::rlimit {
        rlim_cur: 16 << 30,
        rlim_max: 16 << 30,
    };
    // SAFETY: plain syscall on this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let logger: Logger = Arc::new(move |level: LogLevel, msg: &str| {
        sink.lock().unwrap().push(format!("{level:?}: {msg}"));
    });
    let rt = Runtime::new(
        EngineSettings {
            pooling: true,
            pooling_max_instances: 1000,
            ..Default::default()
        },
        None,
        Some(logger),
    )
    .expect("runtime despite the failed reservation");
    assert!(!rt.pooling());
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("Warn") && l.contains("pooling allocator unavailable")),
        "{:?}",
        lines.lock().unwrap()
    );
    let (outcome, io) = common::run(
        &rt,
        &common::printer(b"still serving"),
        false,
        Default::default(),
        b"",
    );
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(io.output(), b"still serving");
}

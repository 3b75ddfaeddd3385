//! Loading: one compile per digest, the compiled-code cache (hit, miss, corrupt, foreign),
//! vouched-for `.cwasm` files, and load cycles that free what is no longer configured.

mod common;

use std::sync::{Arc, Mutex};

use common::{printer, tempdir};
use wasm_runtime::engine::{EngineSettings, OptLevel, build_engine};
use wasm_runtime::precompiled::{Sidecar, write_precompiled};
use wasm_runtime::{LoadOrigin, LogLevel, Logger, Runtime};

fn settings() -> EngineSettings {
    EngineSettings {
        pooling: false,
        ..Default::default()
    }
}

fn logging_runtime(
    settings: EngineSettings,
    cache: Option<std::path::PathBuf>,
) -> (Runtime, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let logger: Logger = Arc::new(move |level: LogLevel, msg: &str| {
        sink.lock().unwrap().push(format!("{level:?}: {msg}"));
    });
    (Runtime::new(settings, cache, Some(logger)).unwrap(), lines)
}

/// Whether any logged line contains `text`.
fn logged(log: &Mutex<Vec<String>>, text: &str) -> bool {
    log.lock().unwrap().iter().any(|l| l.contains(text))
}

#[test]
fn same_bytes_under_two_paths_compile_once() {
    let dir = tempdir();
    let (a, b) = (dir.join("a.wasm"), dir.join("b.wasm"));
    std::fs::write(&a, printer(b"same")).unwrap();
    std::fs::write(&b, printer(b"same")).unwrap();
    let (rt, log) = logging_runtime(settings(), None);
    let ma = rt.load_module(&a).unwrap();
    let mb = rt.load_module(&b).unwrap();
    assert!(Arc::ptr_eq(&ma, &mb));
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("compiled"))
            .count(),
        1
    );
}

#[test]
fn load_cycles_free_modules_no_longer_configured_and_reload_changed_ones() {
    let dir = tempdir();
    let (a, b) = (dir.join("a.wasm"), dir.join("b.wasm"));
    std::fs::write(&a, printer(b"a")).unwrap();
    std::fs::write(&b, printer(b"b")).unwrap();
    let rt = common::runtime();
    rt.begin_load();
    let first_a = rt.load_module(&a).unwrap();
    rt.load_module(&b).unwrap();
    assert_eq!(rt.end_load(), 0);
    assert_eq!(rt.loaded_count(), 2);
    // Next cycle: a unchanged (reused), b dropped from the configuration.
    rt.begin_load();
    let again_a = rt.load_module(&a).unwrap();
    assert_eq!(rt.end_load(), 1);
    assert!(Arc::ptr_eq(&first_a, &again_a));
    assert_eq!(rt.loaded_count(), 1);
    // a changes on disk: loaded afresh, the old one freed.
    std::fs::write(&a, printer(b"a2")).unwrap();
    rt.begin_load();
    let changed = rt.load_module(&a).unwrap();
    assert_eq!(rt.end_load(), 1);
    assert_ne!(changed.digest, first_a.digest);
}

#[test]
fn cache_miss_writes_then_hit_loads_without_compiling() {
    let dir = tempdir();
    let cache = dir.join("cache");
    let wasm = dir.join("m.wasm");
    std::fs::write(&wasm, printer(b"cached")).unwrap();
    let (rt1, log1) = logging_runtime(settings(), Some(cache.clone()));
    assert_eq!(rt1.load_module(&wasm).unwrap().origin, LoadOrigin::Compiled);
    assert!(logged(&log1, "wrote compiled module"));
    let (rt2, log2) = logging_runtime(settings(), Some(cache.clone()));
    assert_eq!(rt2.load_module(&wasm).unwrap().origin, LoadOrigin::Cache);
    assert!(
        !log2
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("compiled /"))
    );
    let (outcome, io) = common::run(&rt2, &printer(b"cached"), false, Default::default(), b"");
    assert_eq!(outcome.status, wasm_runtime::RunStatus::Ok);
    assert_eq!(io.output(), b"cached");
}

#[test]
fn corrupt_cache_entry_is_refused_and_recompiled() {
    let dir = tempdir();
    let cache = dir.join("cache");
    let wasm = dir.join("m.wasm");
    std::fs::write(&wasm, printer(b"x")).unwrap();
    let (rt1, _) = logging_runtime(settings(), Some(cache.clone()));
    rt1.load_module(&wasm).unwrap();
    let entry = walk(&cache)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut image = std::fs::read(&entry).unwrap();
    let mid = image.len() / 2;
    image[mid] ^= 0xff;
    std::fs::write(&entry, &image).unwrap();
    let (rt2, log2) = logging_runtime(settings(), Some(cache.clone()));
    assert_eq!(rt2.load_module(&wasm).unwrap().origin, LoadOrigin::Compiled);
    assert!(
        log2.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("refusing cached") && l.contains("digest mismatch"))
    );
}

#[test]
fn cache_from_another_engine_is_not_used() {
    let dir = tempdir();
    let cache = dir.join("cache");
    let wasm = dir.join("m.wasm");
    std::fs::write(&wasm, printer(b"x")).unwrap();
    let (rt1, _) = logging_runtime(settings(), Some(cache.clone()));
    rt1.load_module(&wasm).unwrap();
    let other = EngineSettings {
        opt_level: OptLevel::None,
        ..settings()
    };
    let (rt2, _) = logging_runtime(other, Some(cache.clone()));
    assert_eq!(rt2.load_module(&wasm).unwrap().origin, LoadOrigin::Compiled);
}

#[test]
fn precompiled_module_loads_only_when_its_sidecar_vouches_for_it() {
    let dir = tempdir();
    let wasm = dir.join("hello.wasm");
    let cwasm = dir.join("hello.cwasm");
    std::fs::write(&wasm, printer(b"pre")).unwrap();
    let engine = build_engine(&settings()).unwrap().engine;
    write_precompiled(
        &engine,
        &std::fs::read(&wasm).unwrap(),
        &cwasm,
        Some("hello.wasm"),
    )
    .unwrap();

    let (rt, _) = logging_runtime(settings(), None);
    assert_eq!(
        rt.load_module(&cwasm).unwrap().origin,
        LoadOrigin::Precompiled
    );

    // Tampered image: refused, and the source .wasm is compiled instead.
    let mut image = std::fs::read(&cwasm).unwrap();
    let last = image.len() - 1;
    image[last] ^= 1;
    std::fs::write(&cwasm, &image).unwrap();
    let (rt, log) = logging_runtime(settings(), None);
    assert_eq!(rt.load_module(&cwasm).unwrap().origin, LoadOrigin::Compiled);
    assert!(logged(&log, "refusing precompiled"));

    // No source to fall back on: an error, never executed.
    std::fs::remove_file(&wasm).unwrap();
    let err = common::runtime()
        .load_module(&cwasm)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("refusing precompiled"), "{err}");
}

#[test]
fn precompiled_for_another_engine_falls_back_to_the_wasm() {
    let dir = tempdir();
    let wasm = dir.join("m.wasm");
    let cwasm = dir.join("m.cwasm");
    std::fs::write(&wasm, printer(b"x")).unwrap();
    let other = build_engine(&EngineSettings {
        opt_level: OptLevel::None,
        ..settings()
    })
    .unwrap()
    .engine;
    write_precompiled(
        &other,
        &std::fs::read(&wasm).unwrap(),
        &cwasm,
        Some("m.wasm"),
    )
    .unwrap();
    let (rt, log) = logging_runtime(settings(), None);
    assert_eq!(rt.load_module(&cwasm).unwrap().origin, LoadOrigin::Compiled);
    assert!(logged(&log, "another engine"));
}

#[test]
fn precompiled_without_sidecar_is_refused() {
    let dir = tempdir();
    let cwasm = dir.join("lonely.cwasm");
    let engine = build_engine(&settings()).unwrap().engine;
    write_precompiled(&engine, &printer(b"x"), &cwasm, None).unwrap();
    std::fs::remove_file(Sidecar::path_for(&cwasm)).unwrap();
    let err = common::runtime()
        .load_module(&cwasm)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("sidecar"), "{err}");
}

#[test]
fn garbage_is_not_wasm() {
    let dir = tempdir();
    let path = dir.join("junk.wasm");
    std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
    assert!(common::runtime().load_module(&path).is_err());
    assert!(wasm_runtime::loader::check_module_file(&path, &Default::default()).is_err());
    let truncated = dir.join("truncated.wasm");
    let mut bytes = printer(b"hello");
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&truncated, bytes).unwrap();
    assert!(wasm_runtime::loader::check_module_file(&truncated, &Default::default()).is_err());
    assert!(
        wasm_runtime::loader::check_module_file(&dir.join("missing.wasm"), &Default::default())
            .is_err()
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

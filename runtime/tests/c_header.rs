//! The C header can never drift from the Rust side: it compiles with -Wall -Wextra -Werror
//! -pedantic, and every struct layout and enum value it declares equals the Rust definition.

use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use wasm_runtime::ffi::*;

fn c_layout() -> HashMap<String, usize> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("c_header_layout_{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // target/<profile>/deps/c_header-… -> target/<profile>, where the cdylib is.
    let exe = std::env::current_exe().unwrap();
    let lib_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    assert!(
        lib_dir.join("libwasm_runtime.so").is_file(),
        "libwasm_runtime.so not found in {}",
        lib_dir.display()
    );
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c_header_layout.c"))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lwasm_runtime")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "wasm_runtime.h does not compile cleanly");
    let output = Command::new(&out).output().expect("run the layout probe");
    let _ = std::fs::remove_file(&out);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn header_matches_the_rust_definitions() {
    let c = c_layout();
    let rust: Vec<(&str, usize)> = vec![
        (
            "wasm_engine_settings_t",
            size_of::<wasm_engine_settings_t>(),
        ),
        (
            "wasm_engine_settings_t.opt_level",
            offset_of!(wasm_engine_settings_t, opt_level),
        ),
        (
            "wasm_engine_settings_t.pooling",
            offset_of!(wasm_engine_settings_t, pooling),
        ),
        (
            "wasm_engine_settings_t.pooling_max_instances",
            offset_of!(wasm_engine_settings_t, pooling_max_instances),
        ),
        (
            "wasm_engine_settings_t.cache_dir",
            offset_of!(wasm_engine_settings_t, cache_dir),
        ),
        ("wasm_pair_t", size_of::<wasm_pair_t>()),
        ("wasm_pair_t.value", offset_of!(wasm_pair_t, value)),
        ("wasm_io_t", size_of::<wasm_io_t>()),
        ("wasm_io_t.read_body", offset_of!(wasm_io_t, read_body)),
        (
            "wasm_io_t.write_headers",
            offset_of!(wasm_io_t, write_headers),
        ),
        ("wasm_io_t.write_body", offset_of!(wasm_io_t, write_body)),
        ("wasm_io_t.log_stderr", offset_of!(wasm_io_t, log_stderr)),
        ("wasm_io_t.flush", offset_of!(wasm_io_t, flush)),
        ("wasm_request_t", size_of::<wasm_request_t>()),
        (
            "wasm_request_t.entry_point",
            offset_of!(wasm_request_t, entry_point),
        ),
        ("wasm_request_t.argv0", offset_of!(wasm_request_t, argv0)),
        ("wasm_request_t.args", offset_of!(wasm_request_t, args)),
        ("wasm_request_t.nargs", offset_of!(wasm_request_t, nargs)),
        ("wasm_request_t.env", offset_of!(wasm_request_t, env)),
        ("wasm_request_t.nenv", offset_of!(wasm_request_t, nenv)),
        ("wasm_request_t.dirs", offset_of!(wasm_request_t, dirs)),
        ("wasm_request_t.ndirs", offset_of!(wasm_request_t, ndirs)),
        ("wasm_request_t.cgi", offset_of!(wasm_request_t, cgi)),
        (
            "wasm_request_t.map_cgi_filenames",
            offset_of!(wasm_request_t, map_cgi_filenames),
        ),
        (
            "wasm_request_t.timeout_ms",
            offset_of!(wasm_request_t, timeout_ms),
        ),
        (
            "wasm_request_t.memory_limit",
            offset_of!(wasm_request_t, memory_limit),
        ),
        (
            "wasm_request_t.output_limit",
            offset_of!(wasm_request_t, output_limit),
        ),
        ("wasm_outcome_t", size_of::<wasm_outcome_t>()),
        (
            "wasm_outcome_t.exit_code",
            offset_of!(wasm_outcome_t, exit_code),
        ),
        (
            "wasm_outcome_t.output_started",
            offset_of!(wasm_outcome_t, output_started),
        ),
        (
            "wasm_outcome_t.body_bytes",
            offset_of!(wasm_outcome_t, body_bytes),
        ),
        (
            "wasm_outcome_t.message",
            offset_of!(wasm_outcome_t, message),
        ),
        ("WASM_OPT_NONE", 0),
        ("WASM_OPT_SPEED", 1),
        ("WASM_OPT_SPEED_AND_SIZE", 2),
        ("WASM_LOG_ERROR", wasm_runtime::LogLevel::Error as usize),
        ("WASM_LOG_DEBUG", wasm_runtime::LogLevel::Debug as usize),
        ("WASM_HEADERS_CONTINUE", 0),
        ("WASM_HEADERS_DISCARD_BODY", 1),
        ("WASM_HEADERS_ABORT", 2),
    ];
    for (name, value) in rust {
        assert_eq!(
            c.get(name),
            Some(&value),
            "{name} differs between C and Rust"
        );
    }
    for (name, value) in [
        ("WASM_RUN_OK", WASM_RUN_OK),
        ("WASM_RUN_EXIT_FAILURE", WASM_RUN_EXIT_FAILURE),
        ("WASM_RUN_TRAP", WASM_RUN_TRAP),
        ("WASM_RUN_TIMEOUT", WASM_RUN_TIMEOUT),
        ("WASM_RUN_OUTPUT_LIMIT", WASM_RUN_OUTPUT_LIMIT),
        ("WASM_RUN_CLIENT_GONE", WASM_RUN_CLIENT_GONE),
        ("WASM_RUN_BAD_HEADERS", WASM_RUN_BAD_HEADERS),
        ("WASM_RUN_SETUP_FAILED", WASM_RUN_SETUP_FAILED),
        ("WASM_RUN_BODY_ERROR", WASM_RUN_BODY_ERROR),
    ] {
        assert_eq!(
            c.get(name),
            Some(&(value as usize)),
            "{name} differs between C and Rust"
        );
    }
}

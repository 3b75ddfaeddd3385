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

/// `("T.f", offset of f in T)`, named from the tokens themselves so a name cannot drift.
macro_rules! field {
    ($t:ident, $f:ident) => {
        (
            concat!(stringify!($t), ".", stringify!($f)),
            offset_of!($t, $f),
        )
    };
}

/// `("T", size of T)`.
macro_rules! size {
    ($t:ident) => {
        (stringify!($t), size_of::<$t>())
    };
}

#[test]
fn header_matches_the_rust_definitions() {
    let c = c_layout();
    let rust: Vec<(&str, usize)> = vec![
        (
            "wasm_engine_settings_t",
            size_of::<wasm_engine_settings_t>(),
        ),
        field!(wasm_engine_settings_t, opt_level),
        field!(wasm_engine_settings_t, pooling),
        field!(wasm_engine_settings_t, pooling_max_instances),
        field!(wasm_engine_settings_t, cache_dir),
        size!(wasm_pair_t),
        field!(wasm_pair_t, value),
        size!(wasm_io_t),
        field!(wasm_io_t, read_body),
        field!(wasm_io_t, write_headers),
        field!(wasm_io_t, write_body),
        field!(wasm_io_t, log_stderr),
        field!(wasm_io_t, flush),
        field!(wasm_io_t, log_notice),
        size!(wasm_preopen_t),
        field!(wasm_preopen_t, dir),
        size!(wasm_module_limits_t),
        field!(wasm_module_limits_t, max_functions),
        field!(wasm_module_limits_t, max_function_size),
        field!(wasm_module_limits_t, max_data_segments),
        size!(wasm_load_policy_t),
        field!(wasm_load_policy_t, run_uid),
        size!(wasm_request_t),
        field!(wasm_request_t, entry_point),
        field!(wasm_request_t, argv0),
        field!(wasm_request_t, args),
        field!(wasm_request_t, nargs),
        field!(wasm_request_t, env),
        field!(wasm_request_t, nenv),
        field!(wasm_request_t, dirs),
        field!(wasm_request_t, ndirs),
        field!(wasm_request_t, cgi),
        field!(wasm_request_t, map_cgi_filenames),
        field!(wasm_request_t, timeout_ms),
        field!(wasm_request_t, memory_limit),
        field!(wasm_request_t, output_limit),
        size!(wasm_outcome_t),
        field!(wasm_outcome_t, exit_code),
        field!(wasm_outcome_t, output_started),
        field!(wasm_outcome_t, body_bytes),
        field!(wasm_outcome_t, elapsed_us),
        field!(wasm_outcome_t, counted_as),
        field!(wasm_outcome_t, message),
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
        ("WASM_RUN_BUSY", WASM_RUN_BUSY),
        ("WASM_STATUS_HTML", WASM_STATUS_HTML),
        ("WASM_STATUS_JSON", WASM_STATUS_JSON),
        ("WASM_STATUS_PROMETHEUS", WASM_STATUS_PROMETHEUS),
    ] {
        assert_eq!(
            c.get(name),
            Some(&(value as usize)),
            "{name} differs between C and Rust"
        );
    }
}

//! Shared helpers of the CLI's integration tests: fixture folders with real Wasm modules.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A WASI command that writes a CGI hello response (the same module `mod-wasm init` writes).
pub fn hello_wasm() -> Vec<u8> {
    wat::parse_str(mod_wasm::commands::init::hello_wat()).expect("starter assembles")
}

/// A second, different valid module.
pub fn other_wasm() -> Vec<u8> {
    wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#).unwrap()
}

/// A small valid WebAssembly component: a core module instantiated inside it and one lifted
/// export (`answer: func() -> u32`).
pub fn component_wasm() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 42))
            (core instance $i (instantiate $m))
            (func (export "answer") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .expect("component assembles")
}

/// Writes the fixtures the broken-manifest corpus refers to into `dir`: `ok.wasm`,
/// `notwasm.wasm` (text), `hello.wat`, and a `data/` folder.
pub fn write_fixtures(dir: &Path) {
    std::fs::write(dir.join("ok.wasm"), hello_wasm()).unwrap();
    std::fs::write(dir.join("notwasm.wasm"), "just text\n").unwrap();
    std::fs::write(dir.join("hello.wat"), mod_wasm::commands::init::hello_wat()).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
}

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The variable naming the CLI's compiled-code cache: tests point it into their own temporary
/// folder, so counts of compiled and reused modules do not depend on earlier runs.
pub const CACHE_ENV: &str = "MOD_WASM_CACHE_DIR";

/// The built `mod-wasm` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mod-wasm"))
}

/// A file standing in for `mod_wasm.so` (the build only writes its path into wasm.conf).
pub fn fake_mod_wasm_so(dir: &Path) -> PathBuf {
    let path = dir.join("mod_wasm.so");
    std::fs::write(&path, b"not loaded by these tests").unwrap();
    path
}

/// Lays out the fixtures and `tests/golden/full.kdl` (the manifest that uses every node) in
/// `root` and builds it there with a fake mod_wasm.so and a private compiled-code cache; fails
/// the test with the CLI's stderr when the build fails. The bundle is `root/bundle`; returns the
/// fake mod_wasm.so it named.
pub fn build_full_manifest(root: &Path) -> PathBuf {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    write_fixtures(root);
    std::fs::write(root.join("other.wasm"), other_wasm()).unwrap();
    std::fs::write(root.join("api.wasm"), component_wasm()).unwrap();
    std::fs::copy(golden.join("full.kdl"), root.join("app.kdl")).unwrap();
    // Host folders are written as canonical paths: the link shows up as `data`.
    std::os::unix::fs::symlink("data", root.join("link-to-data")).unwrap();
    let so = fake_mod_wasm_so(root);
    let out = std::process::Command::new(bin())
        .current_dir(root)
        .env(CACHE_ENV, root.join("compiled"))
        .args(["build", "app.kdl", "--quiet", "--mod-wasm-so"])
        .arg(&so)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

//! `mod-wasm build` through the real binary: reported counts (a second build with nothing changed
//! compiles nothing: the CLI's cache), the bundle's contents, a failed build leaving the previous bundle untouched,
//! and the OCI seam reporting on the `source=` span.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use wasm_runtime::precompiled::Sidecar;

fn build_json(dir: &Path, so: &Path) -> (Output, serde_json::Value) {
    let out = Command::new(common::bin())
        .env(common::CACHE_ENV, dir.join("compiled"))
        .args(["build", "--json", "--mod-wasm-so"])
        .arg(so)
        .arg(dir.join("app.kdl"))
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

const TWO_MODULES: &str = r#"app "counts"
module "a" source="a.wasm"
module "b" source="b.wasm"
module "a-again" source="a.wasm"
route "/a" module="a"
route "/b" module="b"
route "/a2" module="a-again"
"#;

#[test]
fn second_build_compiles_nothing_and_a_change_compiles_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(root.join("b.wasm"), common::other_wasm()).unwrap();
    std::fs::write(root.join("app.kdl"), TWO_MODULES).unwrap();
    let so = common::fake_mod_wasm_so(root);

    let (out, first) = build_json(root, &so);
    assert!(out.status.success());
    // Two distinct digests are compiled; the module sharing a's digest reuses a's code.
    assert_eq!(
        (first["compiled"].as_u64(), first["reused"].as_u64()),
        (Some(2), Some(1))
    );

    let (_, second) = build_json(root, &so);
    assert_eq!(
        (second["compiled"].as_u64(), second["reused"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        first["modules"], second["modules"],
        "same digests, same .cwasm"
    );

    std::fs::write(
        root.join("b.wasm"),
        wat::parse_str(r#"(module (memory (export "memory") 2) (func (export "_start")))"#)
            .unwrap(),
    )
    .unwrap();
    let (_, third) = build_json(root, &so);
    assert_eq!(
        (third["compiled"].as_u64(), third["reused"].as_u64()),
        (Some(1), Some(2))
    );

    // The bundle holds every file, and each sidecar vouches for its .cwasm.
    let bundle = root.join("bundle");
    for name in ["a", "b", "a-again"] {
        let meta =
            std::fs::read_to_string(bundle.join(format!("modules/{name}.cwasm.meta"))).unwrap();
        let meta = Sidecar::parse(&meta).unwrap();
        let cwasm = std::fs::read(bundle.join(format!("modules/{name}.cwasm"))).unwrap();
        assert_eq!(meta.cwasm_sha256, wasm_runtime::digest::sha256_hex(&cwasm));
        let wasm = std::fs::read(bundle.join(format!("modules/{name}.wasm"))).unwrap();
        assert_eq!(meta.wasm_sha256, wasm_runtime::digest::sha256_hex(&wasm));
        assert_eq!(
            meta.source.as_deref(),
            Some(format!("{name}.wasm").as_str())
        );
    }
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("bundle.lock")).unwrap())
            .unwrap();
    assert_eq!(lock["app"], "counts");
    assert_eq!(lock["modules"].as_array().unwrap().len(), 3);
    assert_eq!(lock["engine"]["compatibility"].as_str().unwrap().len(), 64);
}

#[test]
fn a_failed_build_leaves_the_previous_bundle_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"keep\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/a\" module=\"a\"\n",
    )
    .unwrap();
    let so = common::fake_mod_wasm_so(root);
    let (out, _) = build_json(root, &so);
    assert!(out.status.success());
    let conf_before = std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap();
    let lock_before = std::fs::read_to_string(root.join("bundle/bundle.lock")).unwrap();

    // Valid magic (passes `check`) but not a valid module: compilation fails.
    std::fs::write(root.join("a.wasm"), b"\0asm\x01\0\0\0\x01\xff\xff").unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"changed\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/b\" module=\"a\"\n",
    )
    .unwrap();
    let (out, json) = build_json(root, &so);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["problems"][0]["code"], "manifest::compile");
    assert_eq!(
        (
            json["problems"][0]["line"].as_u64(),
            json["problems"][0]["column"].as_u64()
        ),
        (Some(2), Some(19))
    );
    assert_eq!(
        std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap(),
        conf_before
    );
    assert_eq!(
        std::fs::read_to_string(root.join("bundle/bundle.lock")).unwrap(),
        lock_before
    );
    let leftovers: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn an_unavailable_oci_module_is_reported_on_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("app.kdl"),
        "app \"oci\"\nmodule \"py\" source=\"oci://127.0.0.1:1/nowhere/py:1\"\nroute \"/py\" module=\"py\"\n",
    )
    .unwrap();
    let so = common::fake_mod_wasm_so(root);
    // `check` does not touch registries.
    let check = Command::new(common::bin())
        .arg("check")
        .arg(root.join("app.kdl"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // `build --offline` cannot have this module: a diagnostic on the source value, exit 1.
    let out = Command::new(common::bin())
        .args(["build", "--json", "--offline", "--mod-wasm-so"])
        .arg(&so)
        .arg(root.join("app.kdl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problem = &json["problems"][0];
    assert!(
        problem["code"].as_str().unwrap().starts_with("oci::"),
        "{problem}"
    );
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(2), Some(20))
    );
    assert!(
        !root.join("bundle").exists(),
        "no bundle from a failed build"
    );
}

#[test]
fn a_missing_mod_wasm_so_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"x\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/a\" module=\"a\"\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["build", "--mod-wasm-so", "/nonexistent/mod_wasm.so"])
        .arg(root.join("app.kdl"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find mod_wasm.so"));
}

#[test]
fn an_unwritable_out_folder_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"x\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/a\" module=\"a\"\n",
    )
    .unwrap();
    std::fs::write(root.join("file"), "a file, not a folder").unwrap();
    let so = common::fake_mod_wasm_so(root);
    let out = Command::new(common::bin())
        .args(["build", "--json", "--mod-wasm-so"])
        .arg(&so)
        .arg("--out")
        .arg(root.join("file/bundle"))
        .arg(root.join("app.kdl"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "build::write");
}

//! Every accepted media-type layout, pushed with raw distribution-API requests (not the crate's
//! push code) to a real `docker-registry`, then pulled: CNCF, wasm-to-oci, Spin-style (OCI image
//! config, extra non-Wasm layers), and an image index with a wasi/wasm entry. Plus the layouts
//! that must be refused, with errors that name what was found.

mod common;

use common::{Env, RawPush, Registry, read, wasm_module};
use mod_wasm_oci::{Error, ModuleRequest, ResolveOptions, no_progress};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn pull(
    env: &Env,
    registry: &Registry,
    repo_tag: &str,
) -> Result<mod_wasm_oci::ResolvedModule, Error> {
    let req = ModuleRequest {
        name: "m".into(),
        reference: registry.reference(repo_tag),
    };
    env.client()
        .resolve(&[req], None, &ResolveOptions::default(), &no_progress)
        .map(|mut r| r.modules.remove(0))
        .map_err(|mut e| e.remove(0).error)
}

#[test]
fn accepted_layouts_pull_their_wasm_layer() {
    let registry = Registry::start();
    let raw = RawPush::new(&registry);
    let env = Env::new();

    // CNCF Wasm artifact.
    let cncf = wasm_module("cncf");
    let config = br#"{"architecture":"wasm","os":"wasip1"}"#;
    raw.image(
        "l/cncf",
        "v1",
        ("application/vnd.wasm.config.v0+json", config),
        &[("application/wasm", &cncf)],
    );
    let m = pull(&env, &registry, "l/cncf:v1").unwrap();
    assert_eq!(read(&m.path), cncf);
    assert_eq!(m.entry.media_type, "application/wasm");

    // wasm-to-oci.
    let w2o = wasm_module("wasm-to-oci");
    raw.image(
        "l/w2o",
        "v1",
        ("application/vnd.wasm.config.v1+json", b"{}"),
        &[("application/vnd.wasm.content.layer.v1+wasm", &w2o)],
    );
    let m = pull(&env, &registry, "l/w2o:v1").unwrap();
    assert_eq!(read(&m.path), w2o);
    assert_eq!(
        m.entry.media_type,
        "application/vnd.wasm.content.layer.v1+wasm"
    );

    // Spin-style: OCI image config, the Wasm layer plus a non-Wasm config layer.
    let spin = wasm_module("spin");
    raw.image(
        "l/spin",
        "v1",
        (
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"wasm","os":"wasi"}"#,
        ),
        &[
            (
                "application/vnd.fermyon.spin.application.v1+config",
                br#"{"spin_manifest_version":2}"#,
            ),
            ("application/vnd.wasm.content.layer.v1+wasm", &spin),
        ],
    );
    let m = pull(&env, &registry, "l/spin:v1").unwrap();
    assert_eq!(read(&m.path), spin);

    // An image index whose wasi/wasm entry is the module (next to a linux one).
    let idx_wasm = wasm_module("index entry");
    let linux_layer = b"not wasm: a tarball would be here".to_vec();
    let linux = raw.image(
        "l/multi",
        "linux",
        (
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"amd64","os":"linux"}"#,
        ),
        &[("application/vnd.oci.image.layer.v1.tar", &linux_layer)],
    );
    let wasm_manifest = raw.image(
        "l/multi",
        "wasm-only",
        (
            "application/vnd.wasm.config.v0+json",
            br#"{"architecture":"wasm","os":"wasip1"}"#,
        ),
        &[("application/wasm", &idx_wasm)],
    );
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": linux.to_string(), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": wasm_manifest.to_string(), "size": 1, "platform": {"os": "wasip1", "architecture": "wasm"}},
        ],
    });
    // Sizes in an index must be exact for some registries: fill them in from the stored manifests.
    let index = fix_sizes(&registry, "l/multi", index);
    raw.manifest("l/multi", "v1", OCI_INDEX, &index);
    let m = pull(&env, &registry, "l/multi:v1").unwrap();
    assert_eq!(read(&m.path), idx_wasm);
    assert_eq!(
        m.entry.manifest_digest, wasm_manifest,
        "the lock pins the wasm entry's manifest"
    );
}

#[test]
fn refused_layouts_name_what_was_found() {
    let registry = Registry::start();
    let raw = RawPush::new(&registry);
    let env = Env::new();
    let a = wasm_module("a");
    let b = wasm_module("b");

    raw.image(
        "bad/two",
        "v1",
        ("application/vnd.wasm.config.v0+json", b"{}"),
        &[("application/wasm", &a), ("application/wasm", &b)],
    );
    let err = pull(&env, &registry, "bad/two:v1").unwrap_err();
    assert!(matches!(err, Error::TooManyWasmLayers { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&mod_wasm_oci::Digest::of(&a).to_string())
            && text.contains(&mod_wasm_oci::Digest::of(&b).to_string()),
        "{text}"
    );

    let tar = b"a tarball".to_vec();
    raw.image(
        "bad/none",
        "v1",
        ("application/vnd.oci.image.config.v1+json", b"{}"),
        &[("application/vnd.oci.image.layer.v1.tar+gzip", &tar)],
    );
    let err = pull(&env, &registry, "bad/none:v1").unwrap_err();
    assert!(matches!(err, Error::NoWasmLayer { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("application/vnd.oci.image.layer.v1.tar+gzip"),
        "{err}"
    );

    raw.image(
        "bad/helm",
        "v1",
        ("application/vnd.cncf.helm.config.v1+json", b"{}"),
        &[("application/wasm", &a)],
    );
    let err = pull(&env, &registry, "bad/helm:v1").unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedMediaType { kind: "config", .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("application/vnd.cncf.helm.config.v1+json"),
        "{err}"
    );

    let linux = raw.image(
        "bad/index",
        "linux",
        ("application/vnd.oci.image.config.v1+json", b"{}"),
        &[("application/vnd.oci.image.layer.v1.tar", &tar)],
    );
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": linux.to_string(), "size": 1, "platform": {"os": "linux", "architecture": "arm64"}}],
    });
    let index = fix_sizes(&registry, "bad/index", index);
    raw.manifest("bad/index", "v1", OCI_INDEX, &index);
    let err = pull(&env, &registry, "bad/index:v1").unwrap_err();
    assert!(matches!(err, Error::NoWasmPlatform { .. }), "{err}");
    assert!(err.to_string().contains("linux/arm64"), "{err}");

    // Nothing from the refused pulls was cached except verified manifests.
    let cache = mod_wasm_oci::Cache::new(env.cache_root());
    assert!(!cache.blob_path(&mod_wasm_oci::Digest::of(&a)).exists());
}

/// Sets each index entry's `size` to the stored manifest's length.
fn fix_sizes(registry: &Registry, _repo: &str, mut index: serde_json::Value) -> serde_json::Value {
    for entry in index["manifests"].as_array_mut().unwrap() {
        let digest: mod_wasm_oci::Digest = entry["digest"].as_str().unwrap().parse().unwrap();
        let len = std::fs::metadata(registry.blob_file(&digest))
            .unwrap()
            .len();
        entry["size"] = serde_json::json!(len);
    }
    index
}

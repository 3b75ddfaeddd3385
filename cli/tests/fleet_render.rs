//! A host that pulls a bundle renders `wasm.conf` from its `bundle.lock` alone
//! (`mod_wasm::fleet::render`): for the manifest that uses every node, that file must say
//! exactly what `mod-wasm build` wrote from the manifest (only the header's "generated from"
//! differs).

mod common;

use mod_wasm::bundle::lock::BundleLock;
use mod_wasm::fleet::render::{context, module_limits};
use mod_wasm::render::Templates;

#[test]
fn wasm_conf_rendered_from_the_lock_alone_matches_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let so = common::build_full_manifest(&root);
    let bundle = root.join("bundle");
    let built = std::fs::read_to_string(bundle.join("wasm.conf")).unwrap();
    let lock_bytes = std::fs::read(bundle.join("bundle.lock")).unwrap();
    let lock: BundleLock = serde_json::from_slice(&lock_bytes).unwrap();
    assert_eq!(mod_wasm::fleet::lock_check::check(&lock), Ok(()));
    let rendered = Templates::load(None)
        .unwrap()
        .wasm_conf(&context(
            &lock,
            &bundle,
            &so,
            "app.kdl",
            mod_wasm::bundle::release_id(&lock_bytes),
        ))
        .unwrap();
    assert_eq!(rendered, built);
    let limits = module_limits(&lock).unwrap();
    assert_eq!(
        limits.get(wasm_runtime::module_limits::Limit::Functions),
        50000
    );
}

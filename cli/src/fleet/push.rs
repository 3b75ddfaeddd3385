//! `mod-wasm push --bundle DIR oci://REGISTRY/REPO:TAG`: a built bundle as one OCI artifact —
//! its `bundle.lock` as the config, one `application/wasm` layer per module (`NAME.wasm`), no
//! `.cwasm` (each host compiles or verifies its own native code).

use std::path::Path;

use mod_wasm_oci::{BundleModule, OciReference, PushedBundle};

use super::FleetFailure;
use crate::bundle::layout::BundleLayout;
use crate::bundle::lock::BundleLock;

/// Reads the bundle at `dir`: its lock bytes and every module, each checked against the lock.
pub fn read_bundle(dir: &Path) -> Result<(Vec<u8>, Vec<BundleModule>), FleetFailure> {
    let layout = BundleLayout::new(dir);
    let not_a_bundle = |why: String| {
        FleetFailure::new(
            "fleet::not-a-bundle",
            format!("{} is not a bundle: {why}", dir.display()),
        )
        .help("build one first: mod-wasm build app.kdl --out DIR")
    };
    let lock_bytes =
        std::fs::read(layout.lock()).map_err(|e| not_a_bundle(format!("bundle.lock: {e}")))?;
    let lock: BundleLock = serde_json::from_slice(&lock_bytes)
        .map_err(|e| not_a_bundle(format!("bundle.lock: {e}")))?;
    let mut modules = Vec::new();
    for m in &lock.modules {
        let path = layout.wasm(&m.name);
        let bytes =
            std::fs::read(&path).map_err(|e| not_a_bundle(format!("{}: {e}", path.display())))?;
        let actual = wasm_runtime::digest::sha256_hex(&bytes);
        if actual != m.sha256 {
            return Err(FleetFailure::new(
                "fleet::bundle-mismatch",
                format!(
                    "{} does not match bundle.lock (sha256 {actual}, the lock records {})",
                    path.display(),
                    m.sha256
                ),
            )
            .help("the bundle was changed after it was built: build it again"));
        }
        modules.push(BundleModule {
            title: BundleLayout::wasm_file_name(&m.name),
            bytes,
        });
    }
    Ok((lock_bytes, modules))
}

/// Pushes the bundle at `dir` to `reference`.
pub fn push(
    client: &mod_wasm_oci::OciClient,
    dir: &Path,
    reference: &OciReference,
) -> Result<PushedBundle, FleetFailure> {
    let (lock, modules) = read_bundle(dir)?;
    Ok(client.push_bundle(lock, modules, reference)?)
}

/// Runs `push --bundle DIR oci://REF`: prints the manifest digest (alone on stdout, or
/// `{"digest": …, "reference": …}` with `--json`).
pub fn run(
    dir: &Path,
    reference: &str,
    args: &crate::cli::PushArgs,
    out: &crate::output::Output,
) -> Result<(), crate::exit::CliError> {
    let reference = super::reference(reference).map_err(|f| f.to_cli())?;
    let client = super::client(&args.insecure, args.registry_timeout).map_err(|f| f.to_cli())?;
    out.status(format!("Pushing bundle {} to {reference}", dir.display()));
    let pushed = push(&client, dir, &reference).map_err(|f| f.to_cli())?;
    let pinned = reference.with_digest(pushed.manifest_digest.clone());
    out.json(&serde_json::json!({
        "ok": true,
        "digest": pushed.manifest_digest.to_string(),
        "reference": reference.to_string(),
        "pinned": pinned.to_string(),
        "config_digest": pushed.config_digest.to_string(),
        "layers": pushed.layers,
    }));
    out.result(pushed.manifest_digest.to_string());
    out.status(format!(
        "deploy it everywhere with: mod-wasm deploy --from {pinned}"
    ));
    Ok(())
}

//! `mod-wasm push FILE.wasm oci://REGISTRY/REPO:TAG`: upload a module as an OCI artifact (the
//! CNCF Wasm layout, or wasm-to-oci's with `--legacy-media-types`) and print the manifest
//! digest that pins it.

use serde_json::json;

use mod_wasm_oci::{Cache, Layout, OciClient, OciReference};

use crate::cli::PushArgs;
use crate::exit::CliError;
use crate::output::Output;

/// Runs `push`.
pub fn run(args: &PushArgs, out: &Output) -> Result<(), CliError> {
    let (file, reference) = match (&args.bundle, args.args.as_slice()) {
        (Some(dir), [reference]) => return crate::fleet::push::run(dir, reference, args, out),
        (None, [file, reference]) => (std::path::PathBuf::from(file), reference),
        (Some(_), _) => return Err(usage("with --bundle DIR, give only oci://REF")),
        (None, _) => return Err(usage("give FILE.wasm and oci://REF")),
    };
    let reference = OciReference::parse(reference).map_err(user)?;
    let cache = Cache::open_default().map_err(user)?;
    let client = OciClient::new(
        cache,
        crate::sources::oci::registry_options(&args.insecure, args.registry_timeout, None),
    )
    .map_err(|e| CliError::internal(miette::miette!("{e}")))?;
    let layout = if args.legacy_media_types {
        Layout::Legacy
    } else {
        Layout::Cncf
    };
    out.status(format!("Pushing {} to {reference}", file.display()));
    let pushed = client.push_file(&file, &reference, layout).map_err(user)?;
    out.json(&json!({
        "ok": true,
        "reference": pushed.reference.to_string(),
        "digest": pushed.manifest_digest.to_string(),
        "pinned": pushed.reference.with_digest(pushed.manifest_digest.clone()).to_string(),
        "layer_digest": pushed.layer_digest.to_string(),
        "size": pushed.size,
        "layout": if args.legacy_media_types { "wasm-to-oci" } else { "cncf" },
    }));
    // The digest alone on stdout, so scripts can capture it.
    out.result(pushed.manifest_digest.to_string());
    out.status(format!(
        "pin it with: {}",
        pushed.reference.with_digest(pushed.manifest_digest.clone())
    ));
    Ok(())
}

fn usage(why: &str) -> CliError {
    CliError::user(miette::miette!(
        code = "push::usage",
        help = "mod-wasm push FILE.wasm oci://REG/REPO:TAG, or mod-wasm push --bundle DIR oci://REG/REPO:TAG",
        "{why}"
    ))
}

/// A library error as a user diagnostic, with its code and hint.
pub fn user(e: mod_wasm_oci::Error) -> CliError {
    let report = match e.hint() {
        Some(hint) => miette::miette!(code = e.code(), help = hint, "{e}"),
        None => miette::miette!(code = e.code(), "{e}"),
    };
    CliError::user(report)
}

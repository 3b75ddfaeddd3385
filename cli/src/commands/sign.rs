//! `mod-wasm sign --key KEY.pem oci://REGISTRY/REPO@sha256:…`: a cosign-compatible signature
//! of the artifact's manifest digest, stored as cosign stores it (`sha256-<hex>.sig`).

use serde_json::json;

use mod_wasm_oci::PrivateKey;

use crate::cli::SignArgs;
use crate::exit::CliError;
use crate::fleet;
use crate::output::Output;

/// Runs `sign`.
pub fn run(args: &SignArgs, out: &Output) -> Result<(), CliError> {
    let key = PrivateKey::from_pem_file(&args.key).map_err(super::push::user)?;
    let reference = fleet::reference(&args.reference).map_err(|f| f.to_cli())?;
    let client = fleet::client(&args.insecure, args.registry_timeout).map_err(|f| f.to_cli())?;
    let digest = client
        .resolve_digest(&reference)
        .map_err(super::push::user)?;
    if reference.digest().is_none() {
        out.status(format!(
            "{reference} is {digest}: signing the digest (a tag can move, a digest cannot)"
        ));
    }
    let signed = client
        .sign(&reference.with_digest(digest.clone()), &key)
        .map_err(super::push::user)?;
    out.json(&json!({
        "ok": true,
        "reference": signed.reference.to_string(),
        "digest": digest.to_string(),
        "signature": signed.signature.to_string(),
        "signatures": signed.count,
        "payload": String::from_utf8_lossy(&signed.payload),
        "signature_b64": signed.signature_b64,
    }));
    out.result(format!(
        "Signed {} ({})",
        signed.reference, signed.signature
    ));
    Ok(())
}

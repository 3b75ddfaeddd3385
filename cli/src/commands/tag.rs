//! `mod-wasm tag oci://REGISTRY/REPO@sha256:… TAG`: point a tag at a digest — promote what
//! canary hosts run to `stable`, or put a tag back on an earlier digest (a fleet-wide rollback).

use serde_json::json;

use crate::cli::TagArgs;
use crate::exit::CliError;
use crate::fleet;
use crate::output::Output;

/// Runs `tag`.
pub fn run(args: &TagArgs, out: &Output) -> Result<(), CliError> {
    let reference = fleet::reference(&args.reference).map_err(|f| f.to_cli())?;
    let client = fleet::client(&args.insecure, args.registry_timeout).map_err(|f| f.to_cli())?;
    let digest = client
        .resolve_digest(&reference)
        .map_err(super::push::user)?;
    let previous = client.resolve_digest(&reference.with_tag(&args.tag)).ok();
    let (tagged, digest) = client
        .tag(&reference.with_digest(digest), &args.tag)
        .map_err(super::push::user)?;
    out.json(&json!({
        "ok": true,
        "reference": tagged.to_string(),
        "digest": digest.to_string(),
        "previous": previous.as_ref().map(ToString::to_string),
    }));
    out.result(format!(
        "{tagged} -> {digest}{}",
        match &previous {
            Some(p) if *p == digest => " (unchanged)".to_string(),
            Some(p) => format!(" (was {p})"),
            None => String::new(),
        }
    ));
    Ok(())
}

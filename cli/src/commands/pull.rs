//! `mod-wasm pull`: resolve the manifest's OCI modules, fetch what the cache lacks (in
//! parallel, verified), and write `app.lock` beside the manifest. `--update` re-resolves the
//! tags of every module, `--update MODULE` of one; without it locked modules stay pinned.

use serde_json::json;

use crate::cli::PullArgs;
use crate::exit::CliError;
use crate::output::Output;
use crate::sources::ModuleSource;
use crate::sources::oci::{self, OciOptions};

use super::check::{load_checked, summary};

/// Runs `pull`.
pub fn run(args: &PullArgs, out: &Output) -> Result<(), CliError> {
    let checked = load_checked(&args.manifest, out)?;
    if checked.has_errors() {
        if !out.json {
            eprintln!("{}", summary(&checked));
        }
        return Err(CliError::User(None));
    }
    let m = &checked.manifest;
    let is_oci = |name: &str| {
        m.module(name)
            .is_some_and(|d| matches!(d.source, Some(ModuleSource::Oci(_))))
    };
    let update = match args.update.as_deref() {
        None => mod_wasm_oci::Update::Nothing,
        Some("") => mod_wasm_oci::Update::All,
        Some(name) if is_oci(name) => mod_wasm_oci::Update::Modules(vec![name.to_string()]),
        Some(name) => {
            let oci_modules: Vec<_> = m
                .modules
                .iter()
                .filter(|d| matches!(d.source, Some(ModuleSource::Oci(_))))
                .map(|d| d.name.value.clone())
                .collect();
            return Err(CliError::user(miette::miette!(
                code = "pull::unknown-module",
                help = format!(
                    "the OCI modules of {} are: {}",
                    m.display_name(),
                    if oci_modules.is_empty() {
                        "none".to_string()
                    } else {
                        oci_modules.join(", ")
                    }
                ),
                "`{name}` is not an oci:// module of this manifest"
            )));
        }
    };
    let options = OciOptions::new(&args.oci, m, !out.quiet && !out.json);
    let outcome = match oci::resolve_with(&m.oci_modules(), m.top_span(), &options, update) {
        Ok(outcome) => outcome,
        Err(problems) => {
            out.problems(&checked, &problems);
            out.json(&json!({
                "ok": false,
                "manifest": m.display_name(),
                "problems": Output::problems_json(&checked, &problems),
            }));
            return Err(CliError::User(None));
        }
    };
    let modules: Vec<_> = outcome
        .entries
        .values()
        .map(|e| {
            json!({
                "name": e.name,
                "reference": e.reference,
                "manifest_digest": e.manifest_digest.to_string(),
                "layer_digest": e.layer_digest.to_string(),
                "size": e.size,
                "media_type": e.media_type,
                "downloaded": outcome.downloaded.contains(&e.name),
                "path": outcome.resolved.get(&e.name).map(|r| r.path.clone()),
            })
        })
        .collect();
    out.json(&json!({
        "ok": true,
        "manifest": m.display_name(),
        "lock": outcome.lock_path,
        "lock_written": outcome.lock_written,
        "modules": modules,
    }));
    if outcome.entries.is_empty() {
        out.result(format!("{} has no oci:// modules", m.display_name()));
        return Ok(());
    }
    for e in outcome.entries.values() {
        let how = if outcome.downloaded.contains(&e.name) {
            "downloaded"
        } else {
            "cached"
        };
        out.result(format!(
            "{:<12} {} -> {} ({} bytes, {how})",
            e.name, e.reference, e.manifest_digest, e.size
        ));
    }
    out.status(format!(
        "{} {}",
        if outcome.lock_written {
            "wrote"
        } else {
            "unchanged:"
        },
        outcome.lock_path.display()
    ));
    Ok(())
}

//! `mod-wasm releases`: the releases of a deploy root, newest first, with the current one marked
//! and each one's latest recorded outcome.

use serde_json::json;

use crate::cli::ReleasesArgs;
use crate::deploy::releases::ReleaseRoot;
use crate::exit::CliError;
use crate::output::Output;

/// Runs `releases`.
pub fn run(args: &ReleasesArgs, out: &Output) -> Result<(), CliError> {
    if !args.root.join("releases").is_dir() {
        return Err(CliError::user(miette::miette!(
            code = "deploy::root",
            help = "deploy something first: mod-wasm deploy app.kdl --root DIR",
            "{} is not a deploy root (no releases/ folder)",
            args.root.display()
        )));
    }
    let root = ReleaseRoot::open(&args.root).map_err(|e| {
        CliError::internal(miette::miette!("cannot read {}: {e}", args.root.display()))
    })?;
    let current = root.current();
    let records = root.records();
    let mut rows = Vec::new();
    for id in root.ids().into_iter().rev() {
        let last = records.iter().rev().find(|r| r.id == id);
        rows.push(json!({
            "id": id,
            "current": current.as_deref() == Some(id.as_str()),
            "outcome": last.map(|r| r.outcome.clone()),
            "time": last.map(|r| r.time.clone()),
            "digest": last.map(|r| r.digest.clone()),
            "source": last.map(|r| r.source.clone()),
        }));
    }
    out.json(&json!({"root": args.root, "current": current, "releases": rows}));
    if !out.json {
        for row in &rows {
            println!(
                "{} {:<34} {:<12} {}",
                if row["current"].as_bool() == Some(true) {
                    "*"
                } else {
                    " "
                },
                row["id"].as_str().unwrap_or(""),
                row["outcome"].as_str().unwrap_or("-"),
                row["time"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

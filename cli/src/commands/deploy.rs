//! `mod-wasm deploy`: build (or take) a bundle and put it live through the verified switch of
//! [`crate::deploy`]; a failure is a diagnostic naming what failed, and exit code 1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::cli::{BuildTarget, DeployArgs, LiveTarget};
use crate::deploy::apachectl::Apachectl;
use crate::deploy::http::BaseUrl;
use crate::deploy::{Failure, Plan, Report, deploy};
use crate::exit::CliError;
use crate::output::Output;

use super::build::build_target;

/// `/var/lib/mod-wasm/APP`: the Debian-style default deploy root.
pub fn default_root(app: &str) -> PathBuf {
    Path::new("/var/lib/mod-wasm").join(app)
}

/// The plan for `live` (root resolved by the caller).
pub fn plan(live: &LiveTarget, root: PathBuf) -> Result<Plan, CliError> {
    let bad = |code: &'static str, why: String, help: &str| {
        CliError::user(miette::miette!(
            code = code,
            help = help.to_string(),
            "{why}"
        ))
    };
    let apachectl = Apachectl::parse(&live.apachectl).map_err(|why| {
        bad(
            "deploy::apachectl",
            why,
            "e.g. --apachectl \"/usr/sbin/apache2 -f /etc/apache2/x.conf\"",
        )
    })?;
    let url = BaseUrl::parse(&live.url)
        .map_err(|why| bad("deploy::url", why, "e.g. --url http://127.0.0.1:8080"))?;
    let lock_wait = wasm_runtime::units::parse_duration(&live.lock_wait)
        .or_else(|e| {
            if live.lock_wait.trim() == "0" {
                Ok(Duration::ZERO)
            } else {
                Err(e)
            }
        })
        .map_err(|why| bad("deploy::lock-wait", why, "e.g. --lock-wait 30s"))?;
    Ok(Plan {
        root,
        apachectl,
        url,
        keep: 5,
        dry_run: false,
        preflight: true,
        lock_wait,
        health: live.health.clone(),
        templates: None,
    })
}

/// A deploy failure as the user sees it.
pub fn diagnostic(f: Failure) -> CliError {
    let details = f.details.trim().to_string();
    let help = match (&f.help, details.is_empty()) {
        (Some(h), true) => h.clone(),
        (Some(h), false) => format!("{h}\n\n{details}"),
        (None, false) => details,
        (None, true) => String::new(),
    };
    if help.is_empty() {
        CliError::user(miette::miette!(code = f.code, "{}", f.message))
    } else {
        CliError::user(miette::miette!(code = f.code, help = help, "{}", f.message))
    }
}

/// Prints a report (text or `--json`).
pub fn print_report(report: &Report, what: &str, out: &Output) {
    out.json(&json!(report));
    let t = &report.timings;
    match report.outcome.as_str() {
        "dry-run" => out.status(format!(
            "Dry run: release {} passed the configtest ({} ms); nothing changed",
            report.id, t.configtest_ms
        )),
        _ => out.status(format!(
            "{what} {} is live (previous: {}); configtest {} ms, preflight {} ms, switch {} ms, verify {} ms, total {} ms",
            report.id,
            report.previous.as_deref().unwrap_or("none"),
            t.configtest_ms,
            t.preflight_ms,
            t.switch_ms,
            t.verify_ms,
            t.total_ms
        )),
    }
    if !report.pruned.is_empty() {
        out.detail(format!("pruned: {}", report.pruned.join(", ")));
    }
}

/// Runs `deploy`.
pub fn run(args: &DeployArgs, out: &Output) -> Result<(), CliError> {
    let (bundle, source, app) = match &args.bundle {
        Some(bundle) => {
            let bundle = crate::bundle::absolute(bundle);
            let app = app_of(&bundle)?;
            (bundle.clone(), bundle.display().to_string(), app)
        }
        None => {
            let manifest = args
                .manifest
                .clone()
                .unwrap_or_else(|| PathBuf::from("app.kdl"));
            // The bundle is built next to the releases (and reused by later deploys).
            let probe_root = args.live.root.clone();
            let target = BuildTarget {
                manifest: manifest.clone(),
                out: None,
                templates: args.templates.clone(),
                mod_wasm_so: args.mod_wasm_so.clone(),
                jobs: None,
                oci: args.oci.clone(),
            };
            let staging = match &probe_root {
                Some(root) => root.join(".build"),
                None => {
                    let checked = super::check::load_checked(&manifest, out)?;
                    default_root(checked.manifest.app_name()).join(".build")
                }
            };
            let target = BuildTarget {
                out: Some(staging),
                ..target
            };
            let (_, report) = build_target(&target, out)?;
            (
                report.bundle.clone(),
                crate::bundle::absolute(&manifest).display().to_string(),
                report.lock.app.clone(),
            )
        }
    };
    let root = args.live.root.clone().unwrap_or_else(|| default_root(&app));
    let mut plan = plan(&args.live, crate::bundle::absolute(&root))?;
    plan.keep = args.keep.max(1);
    plan.dry_run = args.dry_run;
    plan.preflight = !args.no_preflight;
    plan.templates = args.templates.clone();
    out.status(format!("Deploying {source} to {}", plan.root.display()));
    let report = deploy(&plan, &bundle, &source).map_err(|f| {
        out.json(&json!({"outcome": "failed", "code": f.code, "message": f.message, "details": f.details}));
        diagnostic(f)
    })?;
    print_report(&report, "Release", out);
    Ok(())
}

fn app_of(bundle: &Path) -> Result<String, CliError> {
    let lock_path = crate::bundle::layout::BundleLayout::new(bundle).lock();
    let text = std::fs::read_to_string(lock_path).map_err(|e| {
        CliError::user(miette::miette!(
            code = "deploy::not-a-bundle",
            help = "build one with `mod-wasm build app.kdl --out DIR`",
            "{} has no readable bundle.lock: {e}",
            bundle.display()
        ))
    })?;
    let lock: crate::bundle::lock::BundleLock = serde_json::from_str(&text).map_err(|e| {
        CliError::user(miette::miette!(
            code = "deploy::not-a-bundle",
            "{}/bundle.lock: {e}",
            bundle.display()
        ))
    })?;
    Ok(lock.app)
}

//! `mod-wasm deploy`: build (or take) a bundle and put it live through the verified switch of
//! [`crate::deploy`]; a failure is a diagnostic naming what failed, and exit code 1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::cli::{BuildTarget, DeployArgs, LiveTarget};
use crate::deploy::apachectl::Apachectl;
use crate::deploy::http::BaseUrl;
use crate::deploy::{Failure, Plan, Report, debian, deploy};
use crate::exit::CliError;
use crate::manifest::DeployBlock;
use crate::output::Output;

use super::build::build_target;

/// `/var/lib/mod-wasm/APP`: the Debian-style default deploy root.
pub fn default_root(app: &str) -> PathBuf {
    Path::new("/var/lib/mod-wasm").join(app)
}

/// The deploy root: `--root`, else the manifest's `deploy { root … }`, else
/// `/var/lib/mod-wasm/APP`.
pub fn resolve_root(live: &LiveTarget, block: Option<&DeployBlock>, app: &str) -> PathBuf {
    let root = live
        .root
        .clone()
        .or_else(|| block.and_then(|b| b.root.as_ref()).map(|r| r.value.clone()))
        .unwrap_or_else(|| default_root(app));
    crate::bundle::absolute(&root)
}

/// The plan for `live` (root resolved by the caller): each setting from its flag, else from the
/// manifest's `deploy { }` block, else its default (`--debian` changes the apachectl default).
pub fn plan(
    live: &LiveTarget,
    block: Option<&DeployBlock>,
    root: PathBuf,
) -> Result<Plan, CliError> {
    let bad = |code: &'static str, why: String, help: &str| {
        CliError::user(miette::miette!(
            code = code,
            help = help.to_string(),
            "{why}"
        ))
    };
    let from_block = |get: fn(&DeployBlock) -> Option<&String>| block.and_then(get).cloned();
    let apachectl = match live
        .apachectl
        .clone()
        .or_else(|| from_block(|b| b.apachectl.as_ref().map(|v| &v.value)))
    {
        Some(command) => Apachectl::parse(&command).map_err(|why| {
            bad(
                "deploy::apachectl",
                why,
                "e.g. --apachectl \"/usr/sbin/apache2 -f /etc/apache2/x.conf\"",
            )
        })?,
        None if live.debian => Apachectl::debian(),
        None => Apachectl::parse("apache2ctl").expect("a valid command"),
    };
    let url = live
        .url
        .clone()
        .or_else(|| from_block(|b| b.url.as_ref().map(|v| &v.value)))
        .unwrap_or_else(|| "http://127.0.0.1".to_string());
    let url = BaseUrl::parse(&url)
        .map_err(|why| bad("deploy::url", why, "e.g. --url http://127.0.0.1:8080"))?;
    let lock_wait = live
        .lock_wait
        .clone()
        .or_else(|| from_block(|b| b.lock_wait.as_ref().map(|v| &v.value)))
        .unwrap_or_else(|| "0".to_string());
    let lock_wait = wasm_runtime::units::parse_duration(&lock_wait)
        .or_else(|e| {
            if lock_wait.trim() == "0" {
                Ok(Duration::ZERO)
            } else {
                Err(e)
            }
        })
        .map_err(|why| bad("deploy::lock-wait", why, "e.g. --lock-wait 30s"))?;
    let health = if live.health.is_empty() {
        block
            .map(|b| b.health.iter().map(|h| h.value.clone()).collect())
            .unwrap_or_default()
    } else {
        live.health.clone()
    };
    Ok(Plan {
        root,
        apachectl,
        url,
        keep: block.and_then(|b| b.keep.as_ref()).map_or(5, |k| k.value),
        dry_run: false,
        preflight: block.and_then(|b| b.preflight).unwrap_or(true),
        lock_wait,
        health,
        templates: None,
        check_include: true,
    })
}

/// `--debian`: the include of `plan.root` in `conf-available/mod-wasm-APP.conf`, enabled
/// (`a2enconf`); with `--dry-run`, nothing is written and the include is not required yet.
pub fn debian_include(app: &str, plan: &mut Plan, out: &Output) -> Result<(), CliError> {
    let refuse = |why: String| {
        CliError::user(miette::miette!(
            code = "deploy::debian",
            help = "--debian is for the system Apache of Debian's apache2 package; otherwise add the include line yourself",
            "{why}"
        ))
    };
    if plan.dry_run {
        if !debian::is_enabled(app, &plan.root).map_err(refuse)? {
            plan.check_include = false;
            out.status(format!(
                "Dry run: would write `{}` into {}/conf-available/{}.conf and run a2enconf",
                debian::include_line(&plan.root),
                debian::conf_dir().display(),
                debian::conf_name(app).map_err(refuse)?
            ));
        }
        return Ok(());
    }
    let done = debian::ensure_enabled(app, &plan.root).map_err(refuse)?;
    if done.wrote {
        out.status(format!(
            "Wrote `{}` into {}",
            debian::include_line(&plan.root),
            done.path.display()
        ));
    }
    if done.enabled {
        out.status(format!(
            "Enabled it: a2enconf {}",
            debian::conf_name(app).map_err(refuse)?
        ));
    }
    Ok(())
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

/// The manifest's `deploy { }` block and app name, read without reporting anything (the build
/// that follows reports every problem of the manifest, the block's too).
pub fn manifest_block(manifest: &Path) -> (Option<DeployBlock>, String) {
    match crate::manifest::load(manifest) {
        Ok(checked) => (
            checked.manifest.deploy.clone(),
            checked.manifest.app_name().to_string(),
        ),
        Err(_) => (None, String::new()),
    }
}

/// Runs `deploy`.
pub fn run(args: &DeployArgs, out: &Output) -> Result<(), CliError> {
    if let Some(from) = &args.fleet.from {
        return crate::fleet::run::run(args, from, out);
    }
    let (bundle, source, app, block) = match &args.bundle {
        Some(bundle) => {
            let bundle = crate::bundle::absolute(bundle);
            let app = app_of(&bundle)?;
            (bundle.clone(), bundle.display().to_string(), app, None)
        }
        None => {
            let manifest = args
                .manifest
                .clone()
                .unwrap_or_else(|| PathBuf::from("app.kdl"));
            let (block, app) = manifest_block(&manifest);
            // The bundle is built next to the releases (and reused by later deploys).
            let staging = resolve_root(&args.live, block.as_ref(), &app).join(".build");
            let target = BuildTarget {
                manifest: manifest.clone(),
                out: Some(staging),
                templates: args.templates.clone(),
                mod_wasm_so: args.mod_wasm_so.clone(),
                jobs: None,
                oci: args.oci.clone(),
            };
            let (checked, report) = build_target(&target, out)?;
            (
                report.bundle.clone(),
                crate::bundle::absolute(&manifest).display().to_string(),
                report.lock.app.clone(),
                checked.manifest.deploy.clone(),
            )
        }
    };
    let root = resolve_root(&args.live, block.as_ref(), &app);
    let mut plan = plan(&args.live, block.as_ref(), root)?;
    if let Some(keep) = args.keep {
        plan.keep = keep;
    }
    plan.keep = plan.keep.max(1);
    plan.dry_run = args.dry_run;
    if args.no_preflight {
        plan.preflight = false;
    }
    plan.templates = args.templates.clone();
    if args.live.debian {
        debian_include(&app, &mut plan, out)?;
    }
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

//! `mod-wasm deploy`: build (or take) a bundle and put it live through the verified switch of
//! [`crate::deploy`]; a failure is a diagnostic naming what failed, and exit code 1.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{BuildTarget, DeployArgs};
pub use crate::deploy::plan::{plan, resolve_root};
pub use crate::deploy::report::{diagnostic, print_report};
use crate::deploy::{Plan, debian, deploy};
use crate::exit::CliError;
use crate::manifest::DeployBlock;
use crate::output::Output;

use super::build::build_target;

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
    // A dry run builds into a temporary folder: it writes nothing anywhere else.
    let scratch = tempfile::Builder::new()
        .prefix("mod-wasm-deploy-")
        .tempdir()
        .map_err(|e| CliError::internal(miette::miette!("cannot make a temporary folder: {e}")))?;
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
            // The bundle is built next to the releases (and reused by later deploys) — once the
            // root is known to be safe; a dry run (or a manifest whose problems the build is about
            // to report) builds in the temporary folder.
            let staging = match resolve_root(&args.live, block.as_ref(), &app) {
                Ok(root) if !args.dry_run => {
                    strict_root(&root)?;
                    root.join(".build")
                }
                _ => scratch.path().join("bundle"),
            };
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
    let root = resolve_root(&args.live, block.as_ref(), &app)?;
    strict_root(&root)?;
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

/// StrictModes for the deploy root at `root` ([`crate::deploy::strict`]), as a diagnostic.
pub fn strict_root(root: &Path) -> Result<(), CliError> {
    crate::deploy::strict::check_root(root)
        .map_err(|why| diagnostic(crate::deploy::unsafe_root(root, why)))
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

//! `mod-wasm build`: check, resolve, precompile, write the bundle.

use std::path::PathBuf;

use serde_json::json;

use crate::apache::locate;
use crate::bundle::guard::{OutRefusal, check_out_dir};
use crate::bundle::{self, BuildError, BuildOptions, BuildReport, absolute, cache};
use crate::cli::{BuildArgs, BuildTarget};
use crate::exit::CliError;
use crate::manifest::Checked;
use crate::output::Output;
use crate::sources::oci::OciOptions;

use super::check::{load_checked, summary};

/// Checks and builds `target`; shared by `build` and `up`.
pub fn build_target(
    target: &BuildTarget,
    out: &Output,
) -> Result<(Checked, BuildReport), CliError> {
    build_target_with(target, out, None)
}

/// [`build_target`], with a wasm-status location at `default_status` unless the manifest has a
/// `status` node of its own (`mod-wasm up` enables one by default).
pub fn build_target_with(
    target: &BuildTarget,
    out: &Output,
    default_status: Option<String>,
) -> Result<(Checked, BuildReport), CliError> {
    let checked = load_checked(&target.manifest, out)?;
    if checked.has_errors() {
        out.json(&json!({
            "ok": false,
            "manifest": checked.manifest.display_name(),
            "problems": Output::problems_json(&checked, &checked.problems),
        }));
        if !out.json {
            eprintln!("{}", summary(&checked));
        }
        return Err(CliError::User(None));
    }
    let m = &checked.manifest;
    let out_dir = target.out.clone().unwrap_or_else(|| default_out(&m.dir));
    // Before anything slow: the bundle folder must be one this CLI may replace.
    let out_dir = check_out_dir(&absolute(&out_dir), &m.path).map_err(out_refused)?;
    let mod_wasm_so = locate::mod_wasm_so(target.mod_wasm_so.as_deref()).map_err(|e| {
        CliError::user(miette::miette!(
            code = "apache::mod-wasm-missing",
            help = "build it with `make`, or pass --mod-wasm-so PATH (or set MOD_WASM_SO)",
            "{e}"
        ))
    })?;
    let oci = OciOptions::new(&target.oci, m, !out.quiet && !out.json);
    let options = BuildOptions {
        out: out_dir,
        templates: target.templates.clone(),
        mod_wasm_so,
        oci: oci.clone(),
        threads: target.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        }),
        cache: cache::default_root(),
        default_status,
    };
    let result = bundle::resolve_modules(m, &checked.local, &oci).and_then(|resolved| {
        let progress = out.progress(resolved.len() as u64, "Compiling");
        bundle::build(m, &resolved, &options, &progress)
    });
    match result {
        Ok(report) => {
            if let Some(why) = &report.cache_note {
                out.status(format!("warning: not using the compiled-code cache: {why}"));
            }
            if let Some(why) = &report.pooling_fallback {
                out.detail(format!(
                    "note: pooling allocator unavailable here ({why}); compiled code is the same"
                ));
            }
            Ok((checked, report))
        }
        Err(BuildError::Problems(problems)) => {
            out.problems(&checked, &problems);
            out.json(&json!({
                "ok": false,
                "manifest": checked.manifest.display_name(),
                "problems": Output::problems_json(&checked, &problems),
            }));
            Err(CliError::User(None))
        }
        Err(BuildError::Out(refusal)) => Err(out_refused(refusal)),
        Err(BuildError::Render(e)) if target.templates.is_some() => {
            Err(CliError::user(miette::miette!(
                code = "build::template",
                help = "check your --templates override",
                "{e}"
            )))
        }
        // Writing the bundle failed: a folder the user chose that cannot be written (exit 1).
        Err(e @ BuildError::Io { .. }) => Err(CliError::user(miette::miette!(
            code = "build::write",
            help = "choose a writable folder with --out DIR",
            "{e}"
        ))),
        Err(e) => Err(CliError::internal(miette::miette!(
            code = "build::internal",
            "{e}"
        ))),
    }
}

fn out_refused(refusal: OutRefusal) -> CliError {
    CliError::user(miette::miette!(
        code = refusal.code(),
        help = refusal.help(),
        "refusing to build into this folder: {refusal}"
    ))
}

/// The `--json` form of a build.
pub fn report_json(report: &BuildReport) -> serde_json::Value {
    json!({
        "ok": true,
        "app": report.lock.app,
        "bundle": report.bundle,
        "wasm_conf": report.wasm_conf,
        "compiled": report.compiled,
        "reused": report.reused,
        "cache": report.cache,
        "elapsed_ms": report.elapsed.as_millis() as u64,
        "release": report.release,
        "status": report.lock.status,
        "modules": report.lock.modules,
        "routes": report.lock.routes.iter().map(|r| &r.path).collect::<Vec<_>>(),
    })
}

/// Runs `build`.
pub fn run(args: &BuildArgs, out: &Output) -> Result<(), CliError> {
    let (_, report) = build_target(&args.target, out)?;
    out.json(&report_json(&report));
    out.result(format!(
        "Built `{}`: {} compiled, {} reused in {:.2}s\n  bundle:  {}\n  include: {}\n  release: {}",
        report.lock.app,
        report.compiled,
        report.reused,
        report.elapsed.as_secs_f64(),
        report.bundle.display(),
        report.wasm_conf.display(),
        report.release
    ));
    if let Some(status) = &report.lock.status {
        out.result(format!(
            "  status:  {status} (wasm-status, for this host only)"
        ));
    }
    if let Some(cache) = &report.cache {
        out.detail(format!("  compiled-code cache: {}", cache.display()));
    }
    for module in &report.lock.modules {
        out.detail(format!(
            "  module {}: sha256 {} ({})",
            module.name, module.sha256, module.resolved
        ));
    }
    Ok(())
}

/// The default bundle folder for a manifest folder.
pub fn default_out(manifest_dir: &std::path::Path) -> PathBuf {
    manifest_dir.join("bundle")
}

//! `mod-wasm up`: build, write a standalone httpd.conf in a temporary ServerRoot, check it with
//! `apache2 -t`, then run Apache in the foreground until Ctrl-C.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::apache::{check, locate, run};
use crate::bundle::BuildReport;
use crate::cli::UpArgs;
use crate::exit::CliError;
use crate::manifest::parse::check_listen;
use crate::output::Output;
use crate::render::{HttpdContext, Templates};

use super::build::build_target_with;

/// Where `up` serves wasm-status when the manifest has no `status` node (the path deploy uses).
pub const STATUS_PATH: &str = crate::deploy::verify::STATUS_PATH;

/// Where `up` listens when neither `--listen` nor `server listen=` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The standalone httpd.conf context for a bundle, a ServerRoot and a listen address.
pub fn httpd_context(report: &BuildReport, server_root: &Path, listen: &str) -> HttpdContext {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    HttpdContext {
        app: report.lock.app.clone(),
        version: format!("mod-wasm {}", env!("CARGO_PKG_VERSION")),
        server_root: server_root.display().to_string(),
        server_name: listen_host(listen).to_string(),
        listen: listen.to_string(),
        modules_dir: locate::APACHE_MODULES.to_string(),
        mime_types: locate::MIME_TYPES.to_string(),
        user: root.then(|| "nobody".to_string()),
        group: root.then(|| "nogroup".to_string()),
        wasm_conf: report.wasm_conf.display().to_string(),
    }
}

fn listen_host(listen: &str) -> &str {
    match listen.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => "localhost",
    }
}

/// Runs `up`.
pub fn run(args: &UpArgs, out: &Output) -> Result<(), CliError> {
    if let Some(listen) = &args.listen {
        check_listen(listen).map_err(|why| {
            CliError::user(miette::miette!(
                code = "up::listen",
                help = "e.g. --listen 127.0.0.1:9000",
                "{why}"
            ))
        })?;
    }
    let default_status = (!args.no_status).then(|| STATUS_PATH.to_string());
    let (checked, report) = build_target_with(&args.target, out, default_status)?;
    let listen = args
        .listen
        .clone()
        .or_else(|| {
            checked
                .manifest
                .server
                .listen
                .as_ref()
                .map(|l| l.value.clone())
        })
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());

    let server_root = tempfile::Builder::new()
        .prefix("mod-wasm-up-")
        .tempdir()
        .map_err(|e| CliError::internal(miette::miette!("cannot create a ServerRoot: {e}")))?;
    let internal = |e: std::io::Error| {
        CliError::internal(miette::miette!("cannot prepare the ServerRoot: {e}"))
    };
    // Apache's children (User nobody) reopen the mutex files in here.
    std::fs::set_permissions(server_root.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(internal)?;
    std::fs::create_dir_all(server_root.path().join("htdocs")).map_err(internal)?;
    let templates = Templates::load(args.target.templates.as_deref())
        .map_err(|e| CliError::user(miette::miette!(code = "up::template", "{e}")))?;
    let conf_text = templates
        .httpd_conf(&httpd_context(&report, server_root.path(), &listen))
        .map_err(|e| CliError::user(miette::miette!(code = "up::template", "{e}")))?;
    let conf = server_root.path().join("httpd.conf");
    std::fs::write(&conf, conf_text).map_err(internal)?;

    let apache = locate::apache_bin();
    if let Err(report) = check::config_test(&apache, &conf) {
        // Keep the generated configuration for inspection: the diagnostic points into it.
        let kept = server_root.keep();
        out.status(format!(
            "The generated configuration is kept in {}",
            kept.display()
        ));
        return Err(CliError::User(Some(report)));
    }

    let url_host = if listen.contains(':') {
        listen.clone()
    } else {
        format!("localhost:{listen}")
    };
    out.json(&json!({
        "event": "serving",
        "app": report.lock.app,
        "listen": listen,
        "httpd_conf": conf,
        "bundle": report.bundle,
        "routes": report.lock.routes.iter().map(|r| format!("http://{url_host}{}", r.path)).collect::<Vec<_>>(),
        "status": report.lock.status.as_ref().map(|s| format!("http://{url_host}{s}")),
        "release": report.release,
    }));
    out.status(format!(
        "Serving `{}` on http://{url_host}/ ({} compiled, {} reused); Ctrl-C stops",
        report.lock.app, report.compiled, report.reused
    ));
    for route in &report.lock.routes {
        out.status(format!(
            "  http://{url_host}{} -> {}",
            route.path, route.module
        ));
    }
    if let Some(status) = &report.lock.status {
        out.status(format!(
            "  http://{url_host}{status} -> wasm-status (this host only; `mod-wasm status --url http://{url_host}{status}`)"
        ));
    }
    out.detail(format!("  httpd.conf: {}", conf.display()));

    let end = run::run_foreground(&apache, &conf).map_err(|e| {
        CliError::user(check::CannotRun {
            bin: apache.display().to_string(),
            source: e,
        })
    })?;
    if end.status.success() || (end.stopped_by_signal && end.status.code().is_some()) {
        out.status("Apache stopped.");
        Ok(())
    } else {
        Err(CliError::user(miette::miette!(
            code = "up::apache-failed",
            help = "Apache's own messages are above",
            "Apache exited with {}",
            run::describe(&end.status)
        )))
    }
}

//! A `bundle.lock` that did not come from this host's own build (pulled from a registry, or a
//! bundle folder handed to `deploy --bundle`) is text from elsewhere: before anything renders
//! it, every value that reaches `wasm.conf` passes the rules the manifest reader applies to the
//! same setting — the value rules of [`crate::manifest::value_rules`] (no control characters, no
//! `${`, no empty values, plain app and module names, URL paths) and the directive's own
//! validator from the runtime's table ([`wasm_runtime::directives`]). So a lock can say nothing
//! a manifest could not say, and a refusal names the field.
//!
//! Every field of [`BundleLock`] that a template reads is checked here (the fuzz target
//! `bundle_lock` renders whatever passes and checks the result); fields no template reads
//! (`manifest`, `runtime_version`, a module's `source` and digests) are not.

use std::collections::BTreeSet;

use wasm_runtime::directives;

use crate::bundle::lock::{BundleLock, LockedEngine};
use crate::manifest::RouteSettings;
use crate::manifest::value_rules::{
    app_name_problem, check_url_path, config_unsafe, valid_module_name,
};

/// A lock value that cannot be rendered into configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bundle.lock field `{field}` cannot be used: {why}")]
pub struct UnsafeLock {
    /// The field, as a path into the lock (`routes[0].settings.env[1]`).
    pub field: String,
    /// Why (the manifest reader's or the directive validator's words).
    pub why: String,
}

/// What a refusal of [`check`] tells the user.
pub const HELP: &str = "a bundle.lock may say only what a manifest can say: this one was written or \
edited by hand (a signature proves who pushed it, not that it is safe). Nothing was written or \
started; push a bundle made by `mod-wasm build`";

fn refuse(field: impl Into<String>, why: impl Into<String>) -> UnsafeLock {
    UnsafeLock {
        field: field.into(),
        why: why.into(),
    }
}

/// The rule of the manifest reader for every string value: not empty, nothing httpd.conf cannot
/// carry.
fn text(field: &str, value: &str) -> Result<(), UnsafeLock> {
    if value.is_empty() {
        return Err(refuse(field, "empty values cannot be used"));
    }
    match config_unsafe(value) {
        Some(why) => Err(refuse(field, why)),
        None => Ok(()),
    }
}

/// `args` as directive `name` gets them, checked by its validator from the runtime's table.
fn directive(field: &str, name: &str, args: &[&str]) -> Result<(), UnsafeLock> {
    directives::parse(name, args)
        .map(drop)
        .map_err(|why| refuse(field, format!("`{name}` refuses it: {why}")))
}

/// A host path: a value, absolute (the manifest makes every host path absolute).
fn host_path(field: &str, value: &str) -> Result<(), UnsafeLock> {
    text(field, value)?;
    if value.starts_with('/') {
        Ok(())
    } else {
        Err(refuse(field, format!("`{value}` is not an absolute path")))
    }
}

fn mode(readonly: bool) -> &'static str {
    if readonly { "ro" } else { "rw" }
}

/// Checks every value of `lock` that a template renders.
pub fn check(lock: &BundleLock) -> Result<(), UnsafeLock> {
    // Every field named: a field added to the lock must be judged here (or said to be unrendered).
    let BundleLock {
        format: _,
        app,
        manifest: _,
        runtime_version: _,
        engine,
        modules,
        routes,
        status,
    } = lock;
    if let Some(why) = app_name_problem(app) {
        return Err(refuse("app", why));
    }
    check_engine(engine)?;
    let mut names = BTreeSet::new();
    for (i, m) in modules.iter().enumerate() {
        let field = format!("modules[{i}].name");
        text(&field, &m.name)?;
        if !valid_module_name(&m.name) {
            return Err(refuse(field, format!("`{}` is not a module name", m.name)));
        }
        if !names.insert(m.name.as_str()) {
            return Err(refuse(
                field,
                format!("module `{}` is listed twice", m.name),
            ));
        }
    }
    let mut paths = BTreeSet::new();
    for (i, route) in routes.iter().enumerate() {
        let field = format!("routes[{i}].path");
        text(&field, &route.path)?;
        check_url_path(&route.path).map_err(|why| refuse(&field, why))?;
        if !paths.insert(route.path.as_str()) {
            return Err(refuse(
                field,
                format!("route `{}` is listed twice", route.path),
            ));
        }
        let field = format!("routes[{i}].module");
        text(&field, &route.module)?;
        if !names.contains(route.module.as_str()) {
            return Err(refuse(
                field,
                format!("module `{}` is not in the lock", route.module),
            ));
        }
        check_settings(&format!("routes[{i}].settings"), &route.settings)?;
    }
    if let Some(status) = status {
        text("status", status)?;
        check_url_path(status).map_err(|why| refuse("status", why))?;
        let base = status.trim_end_matches('/');
        if let Some(r) = routes.iter().find(|r| {
            r.path == *status || r.path == base || r.path.starts_with(&format!("{base}/"))
        }) {
            return Err(refuse(
                "status",
                format!("the status page would hide route `{}`", r.path),
            ));
        }
    }
    Ok(())
}

fn check_engine(engine: &LockedEngine) -> Result<(), UnsafeLock> {
    let LockedEngine {
        opt_level,
        pooling: _,
        pooling_max_instances,
        cache_dir,
        compatibility: _,
        module_limits,
    } = engine;
    text("engine.opt_level", opt_level)?;
    directive("engine.opt_level", "WasmEngineOptLevel", &[opt_level])?;
    if *pooling_max_instances != 0 {
        directive(
            "engine.pooling_max_instances",
            "WasmPoolingMaxInstances",
            &[&pooling_max_instances.to_string()],
        )?;
    }
    if let Some(dir) = cache_dir {
        host_path("engine.cache_dir", dir)?;
        directive("engine.cache_dir", "WasmCacheDir", &[dir])?;
    }
    for (i, setting) in module_limits.iter().enumerate() {
        let field = format!("engine.module_limits[{i}]");
        text(&field, setting)?;
        // Written bare, one word each (as the manifest writes them): a space would split it.
        if setting.contains(char::is_whitespace) {
            return Err(refuse(
                field,
                format!("`{setting}` is not one `key=value` word"),
            ));
        }
        directive(&field, "WasmModuleLimits", &[setting])?;
    }
    Ok(())
}

fn check_settings(at: &str, settings: &RouteSettings) -> Result<(), UnsafeLock> {
    let RouteSettings {
        args,
        env,
        dirs,
        map_dirs,
        cgi: _,
        map_cgi_file_names: _,
        entry_point,
        timeout,
        memory_limit,
        output_limit,
        allow_outbound,
    } = settings;
    for (i, arg) in args.iter().enumerate() {
        let field = format!("{at}.args[{i}]");
        text(&field, arg)?;
        directive(&field, "WasmArg", &[arg])?;
    }
    for (i, (name, value)) in env.iter().enumerate() {
        let field = format!("{at}.env[{i}]");
        text(&field, name)?;
        text(&field, value)?;
        directive(&field, "WasmEnv", &[name, value])?;
    }
    for (i, d) in dirs.iter().enumerate() {
        let field = format!("{at}.dirs[{i}].host");
        host_path(&field, &d.host)?;
        directive(&field, "WasmDir", &[&d.host, mode(d.readonly)])?;
    }
    for (i, d) in map_dirs.iter().enumerate() {
        let field = format!("{at}.map_dirs[{i}]");
        text(&format!("{field}.guest"), &d.guest)?;
        host_path(&format!("{field}.host"), &d.host)?;
        directive(&field, "WasmMapDir", &[&d.guest, &d.host, mode(d.readonly)])?;
    }
    let single = [
        ("entry_point", "WasmEntryPoint", entry_point),
        ("timeout", "WasmTimeout", timeout),
        ("memory_limit", "WasmMemoryLimit", memory_limit),
        ("output_limit", "WasmOutputLimit", output_limit),
    ];
    for (key, name, value) in single {
        if let Some(value) = value {
            let field = format!("{at}.{key}");
            text(&field, value)?;
            directive(&field, name, &[value])?;
        }
    }
    for (i, destination) in allow_outbound.iter().enumerate() {
        let field = format!("{at}.allow_outbound[{i}]");
        text(&field, destination)?;
        directive(&field, "WasmAllowOutbound", &[destination])?;
    }
    Ok(())
}

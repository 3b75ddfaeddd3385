//! `wasm.conf` from a `bundle.lock` alone: what a host that pulled a bundle renders, with the
//! same template `mod-wasm build` uses (so the same directives a person would write), paths
//! into this host's bundle folder and this host's `mod_wasm.so`. Only a lock that passed
//! [`super::lock_check::check`] gets here (and the renderer refuses control characters again).

use std::path::Path;
use std::str::FromStr;

use wasm_runtime::engine::{EngineSettings, OptLevel};
use wasm_runtime::module_limits::ModuleLimits;

use crate::bundle::layout::BundleLayout;
use crate::bundle::lock::BundleLock;
use crate::render::{EngineContext, RouteContext, WasmConfContext};

/// The compile limits the lock asks for (the runtime's defaults for the rest).
pub fn module_limits(lock: &BundleLock) -> Result<ModuleLimits, String> {
    let mut limits = ModuleLimits::default();
    for setting in &lock.engine.module_limits {
        limits.apply_setting(setting)?;
    }
    Ok(limits)
}

/// The engine a lock's modules are compiled for.
pub fn engine_settings(lock: &BundleLock) -> Result<EngineSettings, String> {
    let opt_level = OptLevel::from_str(&lock.engine.opt_level).map_err(|e| e.to_string())?;
    Ok(EngineSettings {
        opt_level,
        pooling: lock.engine.pooling,
        pooling_max_instances: lock.engine.pooling_max_instances,
        parallel_compilation: true,
    })
}

/// The template context of `wasm.conf` for the lock `lock` of a bundle at `bundle`; `source`
/// names where it came from (the header's "generated from"), `release` is its `WasmRelease`.
pub fn context(
    lock: &BundleLock,
    bundle: &Path,
    mod_wasm_so: &Path,
    source: &str,
    release: String,
) -> WasmConfContext {
    let layout = BundleLayout::new(bundle);
    WasmConfContext {
        app: lock.app.clone(),
        version: format!("mod-wasm {}", env!("CARGO_PKG_VERSION")),
        manifest: source.to_string(),
        bundle: bundle.display().to_string(),
        mod_wasm_so: mod_wasm_so.display().to_string(),
        engine: EngineContext {
            opt_level: lock.engine.opt_level.clone(),
            // The lock records the effective values: written out explicitly, they select the
            // very engine the modules were compiled for.
            pooling: Some(lock.engine.pooling),
            pooling_max_instances: (lock.engine.pooling_max_instances != 0)
                .then_some(lock.engine.pooling_max_instances),
            cache_dir: lock.engine.cache_dir.clone(),
            module_limits: lock.engine.module_limits.clone(),
        },
        routes: lock
            .routes
            .iter()
            .map(|r| RouteContext {
                path: r.path.clone(),
                module: r.module.clone(),
                module_path: layout.cwasm(&r.module).display().to_string(),
                settings: r.settings.clone(),
            })
            .collect(),
        release,
        status: lock.status.clone(),
    }
}

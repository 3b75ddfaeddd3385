//! `bundle.lock`: what a bundle contains and how it was made (JSON).

use serde::{Deserialize, Serialize};

use crate::manifest::RouteSettings;
use crate::sources::local::WasmKind;

/// The lock's format tag.
pub const LOCK_FORMAT: &str = "mod-wasm-bundle/1";

/// The whole lock file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleLock {
    /// [`LOCK_FORMAT`].
    pub format: String,
    /// App name.
    pub app: String,
    /// Absolute path of the manifest.
    pub manifest: String,
    /// `wasm_runtime` version that precompiled the modules.
    pub runtime_version: String,
    /// Engine settings and fingerprint.
    pub engine: LockedEngine,
    /// Modules in manifest order.
    pub modules: Vec<LockedModule>,
    /// Routes in manifest order.
    pub routes: Vec<LockedRoute>,
    /// The URL path of the loopback-only `wasm-status` location, if the bundle has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Engine settings the modules were compiled with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedEngine {
    /// `none`, `speed` or `speed-and-size`.
    pub opt_level: String,
    /// Pooling allocator requested.
    pub pooling: bool,
    /// Pool size requested (0: runtime default).
    pub pooling_max_instances: u32,
    /// `WasmCacheDir`, if any.
    pub cache_dir: Option<String>,
    /// The engine compatibility hash every `.cwasm` was compiled for.
    pub compatibility: String,
    /// `WasmModuleLimits` words the manifest sets (`functions=50000`): a host that pulls the
    /// bundle compiles under them and writes them into its `wasm.conf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub module_limits: Vec<String>,
}

/// One module.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedModule {
    /// Module name.
    pub name: String,
    /// `source=` as written in the manifest.
    pub source: String,
    /// Where it came from: `file` or `oci`.
    pub kind: String,
    /// What it is: `module` (a core module) or `component`. Locks written before components
    /// were accepted hold core modules only.
    #[serde(default = "core_module")]
    pub wasm_kind: WasmKind,
    /// The pinned origin: absolute path, or `oci://REGISTRY/REPO@sha256:…`.
    pub resolved: String,
    /// SHA-256 of the `.wasm`.
    pub sha256: String,
    /// `modules/NAME.wasm`.
    pub wasm: String,
    /// `modules/NAME.cwasm`.
    pub cwasm: String,
    /// SHA-256 of the `.cwasm`.
    pub cwasm_sha256: String,
}

/// One route and its settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockedRoute {
    /// URL path.
    pub path: String,
    /// Module name.
    pub module: String,
    /// Settings, one field per directive.
    pub settings: RouteSettings,
}

fn core_module() -> WasmKind {
    WasmKind::Module
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock written before components and `allow-outbound`: every module a core module, no
    /// route allowing outbound HTTP.
    #[test]
    fn a_lock_from_before_components_reads_as_core_modules() {
        let lock: BundleLock = serde_json::from_str(
            r#"{"format":"mod-wasm-bundle/1","app":"a","manifest":"/m/app.kdl","runtime_version":"0.1.0",
                "engine":{"opt_level":"speed","pooling":true,"pooling_max_instances":0,"cache_dir":null,
                          "compatibility":"00"},
                "modules":[{"name":"hello","source":"hello.wasm","kind":"file","resolved":"/m/hello.wasm",
                            "sha256":"11","wasm":"modules/hello.wasm","cwasm":"modules/hello.cwasm",
                            "cwasm_sha256":"22"}],
                "routes":[{"path":"/hello","module":"hello",
                           "settings":{"args":[],"env":[],"dirs":[],"map_dirs":[]}}]}"#,
        )
        .unwrap();
        assert_eq!(lock.modules[0].kind, "file");
        assert_eq!(lock.modules[0].wasm_kind, WasmKind::Module);
        assert!(lock.routes[0].settings.allow_outbound.is_empty());
        let again = serde_json::to_value(&lock).unwrap();
        assert_eq!(again["modules"][0]["wasm_kind"], "module");
    }
}

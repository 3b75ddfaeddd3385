//! `bundle.lock`: what a bundle contains and how it was made (JSON).

use serde::{Deserialize, Serialize};

use crate::manifest::RouteSettings;

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
    /// `file` or `oci`.
    pub kind: String,
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

//! What the templates see: plain serialisable structs, built from a manifest and a bundle.

use serde::Serialize;

use crate::manifest::RouteSettings;

/// Server-wide engine settings as written into `wasm.conf`.
#[derive(Clone, Debug, Serialize)]
pub struct EngineContext {
    /// `WasmEngineOptLevel` (always written: the `.cwasm` files were compiled with it).
    pub opt_level: String,
    /// `WasmPooling`, when the manifest sets it.
    pub pooling: Option<bool>,
    /// `WasmPoolingMaxInstances`, when set.
    pub pooling_max_instances: Option<u32>,
    /// `WasmCacheDir`, when set.
    pub cache_dir: Option<String>,
    /// `WasmModuleLimits` words (`functions=50000`), only the keys the manifest sets.
    pub module_limits: Vec<String>,
}

/// One `<Location>`.
#[derive(Clone, Debug, Serialize)]
pub struct RouteContext {
    /// URL path.
    pub path: String,
    /// Module name.
    pub module: String,
    /// Absolute path of the module file the server loads (the `.cwasm`).
    pub module_path: String,
    /// Every per-route setting.
    #[serde(flatten)]
    pub settings: RouteSettings,
}

/// Context of `wasm.conf.j2`.
#[derive(Clone, Debug, Serialize)]
pub struct WasmConfContext {
    /// App name.
    pub app: String,
    /// `mod-wasm X.Y.Z`.
    pub version: String,
    /// The manifest it came from (as given on the command line).
    pub manifest: String,
    /// The bundle folder (absolute).
    pub bundle: String,
    /// Absolute path of `mod_wasm.so`.
    pub mod_wasm_so: String,
    /// Engine settings.
    pub engine: EngineContext,
    /// Routes, in manifest order.
    pub routes: Vec<RouteContext>,
    /// `WasmRelease`: the bundle's id (`bundle-` + 12 hex of the SHA-256 of `bundle.lock`).
    pub release: String,
    /// The URL path of the loopback-only `wasm-status` location, if any.
    pub status: Option<String>,
}

/// Context of `httpd.conf.j2`.
#[derive(Clone, Debug, Serialize)]
pub struct HttpdContext {
    /// App name.
    pub app: String,
    /// `mod-wasm X.Y.Z`.
    pub version: String,
    /// Temporary ServerRoot.
    pub server_root: String,
    /// `ServerName`.
    pub server_name: String,
    /// `Listen` argument.
    pub listen: String,
    /// Folder of the system's Apache modules.
    pub modules_dir: String,
    /// `TypesConfig` file.
    pub mime_types: String,
    /// `User` when running as root.
    pub user: Option<String>,
    /// `Group` when running as root.
    pub group: Option<String>,
    /// Absolute path of the bundle's `wasm.conf`.
    pub wasm_conf: String,
}

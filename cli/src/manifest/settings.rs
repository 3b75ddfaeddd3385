//! What a route says, one field per directive: read from the manifest, recorded in
//! `bundle.lock` and rendered into `wasm.conf`.
//!
//! This file depends on nothing but `serde` (the fuzz targets include it as it is).

/// Everything a route can say; each field is one directive.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteSettings {
    /// `arg` -> `WasmArg` (in order).
    pub args: Vec<String>,
    /// `env NAME VALUE` -> `WasmEnv`.
    pub env: Vec<(String, String)>,
    /// `dir HOST [readonly=#true]` -> `WasmDir HOST [ro]` (canonical host paths once checked).
    pub dirs: Vec<HostDir>,
    /// `map-dir GUEST HOST [readonly=#true]` -> `WasmMapDir GUEST HOST [ro]`.
    pub map_dirs: Vec<MapDir>,
    /// `cgi` -> `WasmEnableCGI`.
    pub cgi: Option<bool>,
    /// `map-cgi-file-names` -> `WasmMapCGIFileNames`.
    pub map_cgi_file_names: Option<bool>,
    /// `entry-point` -> `WasmEntryPoint`.
    pub entry_point: Option<String>,
    /// `timeout` -> `WasmTimeout` (as written; validated).
    pub timeout: Option<String>,
    /// `memory-limit` -> `WasmMemoryLimit` (as written; validated).
    pub memory_limit: Option<String>,
    /// `output-limit` -> `WasmOutputLimit` (as written; validated).
    pub output_limit: Option<String>,
    /// `allow-outbound HOST[:PORT]` -> `WasmAllowOutbound` (in order, as written; validated):
    /// where a component may send HTTP requests. Absent from locks written before it existed.
    #[serde(default)]
    pub allow_outbound: Vec<String>,
}

/// A `dir` setting: a host folder preopened at the same path.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostDir {
    /// The host folder: absolute, and its canonical real path once the manifest is checked.
    pub host: String,
    /// `readonly=#true`: the module may read but not change it.
    pub readonly: bool,
}

/// A `map-dir` setting: a host folder preopened as a guest path.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapDir {
    /// The path inside the module.
    pub guest: String,
    /// The host folder: absolute, and its canonical real path once the manifest is checked.
    pub host: String,
    /// `readonly=#true`: the module may read but not change it.
    pub readonly: bool,
}

//! The app manifest (`app.kdl`, KDL 2.0): its model, parsing and validation.
//!
//! [`load`] reads a manifest and returns the model together with every problem found (syntax,
//! schema, cross-references, files), so a single run reports them all.

pub mod parse;
pub mod problem;
pub mod reader;
pub mod schema;
pub mod suggest;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::SourceSpan;
use wasm_runtime::engine::OptLevel;

use crate::sources::{ModuleSource, ResolvedSource};
use problem::Problem;

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Its span in the manifest text.
    pub span: SourceSpan,
}

impl<T> Spanned<T> {
    /// Wraps `value`.
    pub fn new(value: T, span: SourceSpan) -> Self {
        Spanned { value, span }
    }
}

/// The `engine { }` block: server-wide settings, used to precompile and written as directives.
#[derive(Clone, Debug, Default)]
pub struct EngineBlock {
    /// `opt-level` -> `WasmEngineOptLevel`.
    pub opt_level: Option<OptLevel>,
    /// `pooling` -> `WasmPooling`.
    pub pooling: Option<bool>,
    /// `pooling-max-instances` -> `WasmPoolingMaxInstances`.
    pub pooling_max_instances: Option<u32>,
    /// `cache-dir` -> `WasmCacheDir` (absolute).
    pub cache_dir: Option<PathBuf>,
}

/// The `server` node: what `mod-wasm up` listens on.
#[derive(Clone, Debug, Default)]
pub struct ServerBlock {
    /// `listen="HOST:PORT"`.
    pub listen: Option<Spanned<String>>,
}

/// A `module "NAME" source=… sha256=…` node.
#[derive(Clone, Debug)]
pub struct ModuleDecl {
    /// Its name (also its file name in the bundle).
    pub name: Spanned<String>,
    /// The `source=` value as written.
    pub source_text: String,
    /// The parsed source (absent when it did not parse).
    pub source: Option<ModuleSource>,
    /// Span of the `source=` entry.
    pub source_span: SourceSpan,
    /// Optional pin, lower-case hex.
    pub sha256: Option<Spanned<String>>,
    /// Span of the whole node.
    pub span: SourceSpan,
}

/// Everything a route can say; each field is one directive.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteSettings {
    /// `arg` -> `WasmArg` (in order).
    pub args: Vec<String>,
    /// `env NAME VALUE` -> `WasmEnv`.
    pub env: Vec<(String, String)>,
    /// `dir HOST` -> `WasmDir` (absolute host paths).
    pub dirs: Vec<String>,
    /// `map-dir GUEST HOST` -> `WasmMapDir` (host made absolute).
    pub map_dirs: Vec<(String, String)>,
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
}

/// A `route "/PATH" module="NAME" { … }` node.
#[derive(Clone, Debug)]
pub struct RouteDecl {
    /// The URL path (`<Location>`).
    pub path: Spanned<String>,
    /// The module it runs.
    pub module: Spanned<String>,
    /// Its settings.
    pub settings: RouteSettings,
    /// Host folders of `dir` and `map-dir` (absolute), to check they exist.
    pub host_dirs: Vec<Spanned<PathBuf>>,
    /// Span of the whole node.
    pub span: SourceSpan,
}

/// A parsed manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest file as given.
    pub path: PathBuf,
    /// Its folder, absolute: relative paths in the manifest are taken under it.
    pub dir: PathBuf,
    /// The text.
    pub text: Arc<String>,
    /// `app "NAME"`.
    pub app: Option<Spanned<String>>,
    /// `engine { }`.
    pub engine: EngineBlock,
    /// `server …`.
    pub server: ServerBlock,
    /// `module` nodes in order.
    pub modules: Vec<ModuleDecl>,
    /// `route` nodes in order.
    pub routes: Vec<RouteDecl>,
}

impl Manifest {
    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleDecl> {
        self.modules.iter().find(|m| m.name.value == name)
    }

    /// The app name (empty when missing, which is already a problem).
    pub fn app_name(&self) -> &str {
        self.app.as_ref().map(|a| a.value.as_str()).unwrap_or("")
    }

    /// The manifest's name for diagnostics, as the user gave it.
    pub fn display_name(&self) -> String {
        self.path.display().to_string()
    }
}

/// A manifest and every problem found in it.
#[derive(Debug)]
pub struct Checked {
    /// The model (partial when there are errors).
    pub manifest: Manifest,
    /// Every problem, in source order.
    pub problems: Vec<Problem>,
    /// Local modules resolved while checking, by module name.
    pub local: BTreeMap<String, ResolvedSource>,
}

impl Checked {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Why a manifest could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read manifest `{path}`: {source}")]
pub struct ReadError {
    /// The file.
    pub path: String,
    /// The cause.
    pub source: std::io::Error,
}

/// Reads `path`, parses and validates it (including local module files and host folders).
pub fn load(path: &Path) -> Result<Checked, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError {
        path: path.display().to_string(),
        source,
    })?;
    Ok(check_text(path, text))
}

/// Parses and validates manifest `text` as if read from `path`.
pub fn check_text(path: &Path, text: String) -> Checked {
    let dir = absolute_dir(path);
    let text = Arc::new(text);
    let (manifest, mut problems) = parse::parse(path, &dir, text);
    let mut local = BTreeMap::new();
    if !problems.iter().any(|p| p.code == "manifest::syntax") {
        problems.extend(validate::validate(&manifest));
        problems.extend(validate::check_files(&manifest, &mut local));
    }
    problems.sort_by_key(|p| p.span.offset());
    Checked {
        manifest,
        problems,
        local,
    }
}

fn absolute_dir(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    })
}

//! The app manifest (`app.kdl`, KDL 2.0): its model, parsing and validation.
//!
//! [`load`] reads a manifest and returns the model together with every problem found (syntax,
//! schema, cross-references, files), so a single run reports them all.

pub mod depth;
pub mod directive_node;
pub mod host_dirs;
pub mod parse;
pub mod reader;
pub mod registry;
pub mod schema;
pub mod settings;
pub mod suggest;
pub mod validate;
pub mod value_rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::SourceSpan;
use wasm_runtime::engine::OptLevel;
use wasm_runtime::module_limits::{Limit, ModuleLimits};

use crate::problem::Problem;
use crate::sources::oci::OciModule;
use crate::sources::{ModuleSource, ResolvedSource};

pub use settings::{HostDir, MapDir, RouteSettings};

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
    /// `module-limits key=value…` -> `WasmModuleLimits key=value…`.
    pub module_limits: Option<ModuleLimitsDecl>,
}

/// The `module-limits` node: compile limits for the CLI's build and the server.
#[derive(Clone, Debug, Default)]
pub struct ModuleLimitsDecl {
    /// The limits in effect (defaults for the keys not set).
    pub limits: ModuleLimits,
    /// The keys the manifest sets, with the value to write into `WasmModuleLimits`.
    pub settings: Vec<(Limit, String)>,
}

impl EngineBlock {
    /// The compile limits in effect: the manifest's, else the runtime's defaults.
    pub fn limits(&self) -> ModuleLimits {
        self.module_limits
            .as_ref()
            .map(|d| d.limits)
            .unwrap_or_default()
    }
}

/// The `server` node: what `mod-wasm up` listens on.
#[derive(Clone, Debug, Default)]
pub struct ServerBlock {
    /// `listen="HOST:PORT"`.
    pub listen: Option<Spanned<String>>,
}

/// The `deploy { }` block: the settings of `mod-wasm deploy` (and `rollback --manifest`) for this
/// app; command-line flags override each one.
#[derive(Clone, Debug)]
pub struct DeployBlock {
    /// `root "DIR"` (absolute; relative paths are taken from the manifest's folder).
    pub root: Option<Spanned<PathBuf>>,
    /// `apachectl "CMD"`: the command that controls the running Apache.
    pub apachectl: Option<Spanned<String>>,
    /// `url "http://HOST[:PORT]"`: where the running server answers on this host.
    pub url: Option<Spanned<String>>,
    /// `keep N`: releases to keep (at least 1).
    pub keep: Option<Spanned<usize>>,
    /// `health "/PATH"` (repeatable): paths that must answer 2xx after the switch.
    pub health: Vec<Spanned<String>>,
    /// `lock-wait "DURATION"`: how long to wait for another deploy's lock.
    pub lock_wait: Option<Spanned<String>>,
    /// `preflight #false`: skip serving the candidate in a private Apache first.
    pub preflight: Option<bool>,
    /// `verify-key "PUB.pem"`: `deploy --from oci://…` deploys only bundles signed by this key.
    pub verify_key: Option<Spanned<PathBuf>>,
    /// Span of the whole block.
    pub span: SourceSpan,
}

impl DeployBlock {
    /// An empty block written at `span`.
    pub fn at(span: SourceSpan) -> DeployBlock {
        DeployBlock {
            root: None,
            apachectl: None,
            url: None,
            keep: None,
            health: Vec::new(),
            lock_wait: None,
            preflight: None,
            verify_key: None,
            span,
        }
    }
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
    /// The name of its first `allow-outbound` node, if it has one.
    pub outbound: Option<SourceSpan>,
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
    /// `status "/PATH"`: a loopback-only wasm-status location in `wasm.conf`.
    pub status: Option<Spanned<String>>,
    /// `deploy { }`.
    pub deploy: Option<DeployBlock>,
    /// `registry timeout="…"`: how the CLI talks to registries.
    pub registry: registry::RegistryBlock,
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

    /// The `oci://` modules, as [`crate::sources::oci::resolve_all`] takes them.
    pub fn oci_modules(&self) -> Vec<OciModule> {
        self.modules
            .iter()
            .filter_map(|m| match &m.source {
                Some(ModuleSource::Oci(reference)) => Some(OciModule {
                    name: m.name.value.clone(),
                    reference: reference.clone(),
                    span: m.source_span,
                }),
                _ => None,
            })
            .collect()
    }

    /// Where a problem about the manifest as a whole points: its `app` node, else its start.
    pub fn top_span(&self) -> SourceSpan {
        self.app
            .as_ref()
            .map(|a| a.span)
            .unwrap_or_else(|| SourceSpan::from(0..0))
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

/// Largest manifest file read.
pub const MAX_MANIFEST_SIZE: u64 = 16 << 20;

/// Stack of the thread that parses a manifest: ample for [`depth::MAX_DEPTH`] levels, and a
/// second line of defence should the depth pre-check ever miss a construct.
const PARSE_STACK: usize = 64 << 20;

/// Reads `path` (a regular file of at most [`MAX_MANIFEST_SIZE`]), parses and validates it
/// (including local module files and host folders).
pub fn load(path: &Path) -> Result<Checked, ReadError> {
    let err = |source| ReadError {
        path: path.display().to_string(),
        source,
    };
    let bytes = crate::sources::regular::read_regular(path, MAX_MANIFEST_SIZE).map_err(|e| {
        err(match e {
            crate::sources::regular::RegularError::Io(e) => e,
            crate::sources::regular::RegularError::Missing => {
                std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
            }
            other => std::io::Error::other(other.to_string()),
        })
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })?;
    Ok(check_text(path, text))
}

/// Parses and validates manifest `text` as if read from `path`.
pub fn check_text(path: &Path, text: String) -> Checked {
    let dir = absolute_dir(path);
    let text = Arc::new(text);
    let (mut manifest, mut problems) = parse_on_big_stack(path, &dir, text);
    let mut local = BTreeMap::new();
    if !problems.iter().any(|p| parse::FATAL.contains(&p.code)) {
        problems.extend(validate::validate(&manifest));
        problems.extend(validate::check_files(&manifest, &mut local));
        problems.extend(validate::outbound_of_core_modules(&manifest, &local));
        problems.extend(host_dirs::resolve(&mut manifest));
    }
    problems.sort_by_key(|p| p.span.offset());
    Checked {
        manifest,
        problems,
        local,
    }
}

fn parse_on_big_stack(path: &Path, dir: &Path, text: Arc<String>) -> (Manifest, Vec<Problem>) {
    let for_thread = text.clone();
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("manifest-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, move || parse::parse(path, dir, for_thread));
        match parser {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: parse here (the depth pre-check still bounds the recursion).
            Err(_) => parse::parse(path, dir, text),
        }
    })
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

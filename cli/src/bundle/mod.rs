//! `mod-wasm build`: from a checked manifest to a bundle folder —
//! `modules/` (`.wasm`, `.cwasm`, sidecars), `bundle.lock` and `wasm.conf`, named by
//! [`BundleLayout`] alone.

pub mod cache;
pub mod compile;
pub mod files;
pub mod guard;
pub mod layout;
pub mod lock;
pub mod swap;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use wasm_runtime::engine::{EngineSettings, build_engine, compatibility_hash};

use crate::manifest::validate::{limit_problem, pin_problem};
use crate::manifest::{Manifest, ModuleDecl};
use crate::problem::Problem;
use crate::render::{EngineContext, RouteContext, Templates, WasmConfContext};
use crate::sources::oci::{self, OciOptions};
use crate::sources::{ModuleSource, ResolvedSource};
use cache::CompiledCache;
use compile::{CompileError, Compiler, Job};
use guard::OutRefusal;
pub use layout::BundleLayout;
use lock::{BundleLock, LOCK_FORMAT, LockedEngine, LockedModule, LockedRoute};

/// Inputs of a build besides the manifest.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The bundle folder to (re)place.
    pub out: PathBuf,
    /// `--templates DIR`.
    pub templates: Option<PathBuf>,
    /// Absolute path of `mod_wasm.so` for the `LoadModule` line.
    pub mod_wasm_so: PathBuf,
    /// Registry switches, for `oci://` modules.
    pub oci: OciOptions,
    /// Compile threads (modules compiled at once).
    pub threads: usize,
    /// Root of the CLI's compiled-code cache (`None`: compile everything, cache nothing).
    pub cache: Option<PathBuf>,
    /// The wasm-status path to use when the manifest has no `status` node (`mod-wasm up`).
    pub default_status: Option<String>,
}

/// What a build did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildReport {
    /// The bundle folder (absolute).
    pub bundle: PathBuf,
    /// Its `wasm.conf`.
    pub wasm_conf: PathBuf,
    /// Modules compiled in this build.
    pub compiled: usize,
    /// Modules whose `.cwasm` was reused (from the CLI's cache, or another module's bytes).
    pub reused: usize,
    /// The compiled-code cache folder used.
    pub cache: Option<PathBuf>,
    /// Why the cache could not be used, if it could not.
    pub cache_note: Option<String>,
    /// Wall-clock time of the build.
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// When the engine could not use the pooling allocator here, why (compiled code is the same).
    pub pooling_fallback: Option<String>,
    /// The lock that was written.
    pub lock: BundleLock,
    /// The bundle's id, written as `WasmRelease` (`bundle-` + 12 hex of the lock's SHA-256).
    pub release: String,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Manifest-level problems found while resolving or compiling (rendered against the manifest).
    #[error("{} problem(s) in the manifest", .0.len())]
    Problems(Vec<Problem>),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(wasm_runtime::RuntimeError),
    /// A template failed.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The bundle folder may not be replaced.
    #[error(transparent)]
    Out(#[from] OutRefusal),
    /// Writing the bundle failed.
    #[error("cannot write the bundle in `{path}`: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The engine settings a manifest asks for.
pub fn engine_settings(m: &Manifest) -> EngineSettings {
    let defaults = EngineSettings::default();
    EngineSettings {
        opt_level: m.engine.opt_level.unwrap_or(defaults.opt_level),
        pooling: m.engine.pooling.unwrap_or(defaults.pooling),
        pooling_max_instances: m.engine.pooling_max_instances.unwrap_or(0),
        parallel_compilation: true,
    }
}

/// Resolves every module: local ones from the check, OCI ones through [`oci::resolve_all`].
pub fn resolve_modules(
    m: &Manifest,
    local: &BTreeMap<String, ResolvedSource>,
    options: &OciOptions,
) -> Result<Vec<(ModuleDecl, ResolvedSource)>, BuildError> {
    let mut resolved = Vec::new();
    // Every OCI module at once: parallel downloads, one lock file update.
    let (mut from_oci, mut problems) =
        match oci::resolve_all(&m.oci_modules(), m.top_span(), options) {
            Ok(outcome) => (outcome.resolved, Vec::new()),
            Err(problems) => (BTreeMap::new(), problems),
        };
    for module in &m.modules {
        let source = match &module.source {
            Some(ModuleSource::Path(_)) => local.get(&module.name.value).cloned(),
            Some(ModuleSource::Oci(_)) => match from_oci.remove(&module.name.value) {
                Some(source) => match pin_problem(module, &source) {
                    Some(p) => {
                        problems.push(p);
                        None
                    }
                    None => Some(source),
                },
                None => None,
            },
            None => None,
        };
        match source {
            Some(source) => resolved.push((module.clone(), source)),
            None if problems.is_empty() => {
                // A checked manifest always resolves its local modules.
                problems.push(Problem::error(
                    "manifest::unresolved",
                    format!("module `{}` could not be resolved", module.name.value),
                    module.source_span,
                    "here",
                ));
            }
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(BuildError::Problems(problems))
    }
}

/// Builds the bundle for a checked manifest whose modules are `resolved`: into a staging
/// folder (modules compiled, then `bundle.lock`, `wasm.conf`), which then replaces the output
/// folder whole.
pub fn build(
    m: &Manifest,
    resolved: &[(ModuleDecl, ResolvedSource)],
    options: &BuildOptions,
    progress: &ProgressBar,
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let templates = Templates::load(options.templates.as_deref())?;
    let settings = engine_settings(m);
    let built = build_engine(&settings).map_err(BuildError::Engine)?;
    let compatibility = compatibility_hash(&built.engine);
    let out = BundleLayout::new(guard::check_out_dir(&absolute(&options.out), &m.path)?);
    let (cache, cache_note) = open_cache(options.cache.as_deref(), &compatibility);

    let staging = swap::Staging::new(out.root()).map_err(io_at(out.root()))?;
    let staged = BundleLayout::new(staging.path());
    let compiler = Compiler {
        engine: &built.engine,
        limits: m.engine.limits(),
        cache: cache.as_ref(),
        threads: options.threads,
    };
    let outcomes = compile_modules(&compiler, resolved, &staged, progress)?;
    let status = m
        .status
        .as_ref()
        .map(|s| s.value.clone())
        .or_else(|| options.default_status.clone());
    let mut lock = bundle_lock(m, resolved, &outcomes, &settings, compatibility);
    lock.status = status.clone();
    let lock_text = serde_json::to_string_pretty(&lock).expect("lock serialises") + "\n";
    let release = release_id(lock_text.as_bytes());
    let mut context = wasm_conf_context(m, out.root(), &options.mod_wasm_so);
    context.release = release.clone();
    context.status = status;
    let conf = templates.wasm_conf(&context)?;
    write_bundle_files(&staged, &lock_text, &conf)?;
    staging.commit().map_err(io_at(out.root()))?;

    let compiled = outcomes.iter().filter(|o| o.compiled).count();
    Ok(BuildReport {
        wasm_conf: out.wasm_conf(),
        bundle: out.root().to_path_buf(),
        compiled,
        reused: outcomes.len() - compiled,
        cache: cache.map(|c| c.dir().to_path_buf()),
        cache_note,
        elapsed: started.elapsed(),
        pooling_fallback: built.pooling_fallback,
        lock,
        release,
    })
}

/// The id of a bundle whose `bundle.lock` is `lock_bytes`: `bundle-` and the first 12 hex digits
/// of their SHA-256. The lock does not hold the id, so the id names exactly one lock.
pub fn release_id(lock_bytes: &[u8]) -> String {
    format!(
        "bundle-{}",
        &wasm_runtime::digest::sha256_hex(lock_bytes)[..12]
    )
}

/// The CLI's compiled-code cache under `root` for this engine, or why there is none.
fn open_cache(root: Option<&Path>, compatibility: &str) -> (Option<CompiledCache>, Option<String>) {
    match root {
        Some(root) => match CompiledCache::open(root, compatibility) {
            Ok(cache) => (Some(cache), None),
            Err(why) => (None, Some(why)),
        },
        None => (
            None,
            Some("no cache folder (set MOD_WASM_CACHE_DIR)".into()),
        ),
    }
}

/// Writes every module's `.wasm`, `.cwasm` and sidecar into `staged`; a module the compiler
/// refuses becomes a problem at its `source=`.
fn compile_modules(
    compiler: &Compiler<'_>,
    resolved: &[(ModuleDecl, ResolvedSource)],
    staged: &BundleLayout,
    progress: &ProgressBar,
) -> Result<Vec<compile::Outcome>, BuildError> {
    let modules_dir = staged.modules_dir();
    files::create_dir(&modules_dir).map_err(io_at(&modules_dir))?;
    let jobs: Vec<Job> = resolved
        .iter()
        .map(|(decl, source)| Job {
            name: decl.name.value.clone(),
            wasm_path: source.path.clone(),
            sha256: source.sha256.clone(),
        })
        .collect();
    progress.set_length(jobs.len() as u64);
    let decl_of = |name: &str| {
        &resolved
            .iter()
            .find(|(d, _)| d.name.value == name)
            .expect("job")
            .0
    };
    let outcomes = compiler
        .compile_all(&jobs, staged, progress)
        .map_err(|e| match e {
            CompileError::Limit { name, error } => {
                BuildError::Problems(vec![limit_problem(decl_of(&name), &error)])
            }
            CompileError::Invalid { name, reason } => {
                let decl = decl_of(&name);
                BuildError::Problems(vec![
                    Problem::error(
                        "manifest::compile",
                        format!("module `{name}` does not compile"),
                        decl.source_span,
                        "invalid WebAssembly",
                    )
                    .with_help(reason),
                ])
            }
            CompileError::Io { name, source } => BuildError::Io {
                path: staged.cwasm(&name),
                source,
            },
        })?;
    progress.finish_and_clear();
    Ok(outcomes)
}

/// What `bundle.lock` records: the app, the engine, every module (origin, digests, files) and
/// every route.
fn bundle_lock(
    m: &Manifest,
    resolved: &[(ModuleDecl, ResolvedSource)],
    outcomes: &[compile::Outcome],
    settings: &EngineSettings,
    compatibility: String,
) -> BundleLock {
    BundleLock {
        format: LOCK_FORMAT.into(),
        app: m.app_name().to_string(),
        manifest: m
            .dir
            .join(m.path.file_name().unwrap_or_default())
            .display()
            .to_string(),
        runtime_version: wasm_runtime::RUNTIME_VERSION.into(),
        engine: LockedEngine {
            opt_level: settings.opt_level.as_str().into(),
            pooling: settings.pooling,
            pooling_max_instances: settings.pooling_max_instances,
            cache_dir: m.engine.cache_dir.as_ref().map(|d| d.display().to_string()),
            compatibility,
            module_limits: module_limit_words(m),
        },
        modules: resolved
            .iter()
            .zip(outcomes)
            .map(|((decl, source), outcome)| LockedModule {
                name: decl.name.value.clone(),
                source: decl.source_text.clone(),
                kind: decl
                    .source
                    .as_ref()
                    .map(ModuleSource::kind)
                    .unwrap_or("file")
                    .into(),
                wasm_kind: outcome.kind,
                resolved: source.pinned.clone(),
                sha256: source.sha256.clone(),
                wasm: BundleLayout::wasm_entry(&decl.name.value),
                cwasm: BundleLayout::cwasm_entry(&decl.name.value),
                cwasm_sha256: outcome.cwasm_sha256.clone(),
            })
            .collect(),
        routes: m
            .routes
            .iter()
            .map(|r| LockedRoute {
                path: r.path.value.clone(),
                module: r.module.value.clone(),
                settings: r.settings.clone(),
            })
            .collect(),
        status: None,
    }
}

/// Writes `bundle.lock`, `wasm.conf` and a `.gitignore` (the bundle is generated: keep it out
/// of version control wherever it lands) into `staged`.
fn write_bundle_files(
    staged: &BundleLayout,
    lock_text: &str,
    conf: &str,
) -> Result<(), BuildError> {
    for (path, text) in [
        (staged.lock(), lock_text),
        (staged.wasm_conf(), conf),
        (staged.gitignore(), "*\n"),
    ] {
        files::write_file(&path, text.as_bytes()).map_err(io_at(&path))?;
    }
    Ok(())
}

/// The `WasmModuleLimits` words (`functions=50000`) of the keys the manifest sets.
fn module_limit_words(m: &Manifest) -> Vec<String> {
    m.engine
        .module_limits
        .iter()
        .flat_map(|d| &d.settings)
        .map(|(limit, value)| format!("{}={value}", limit.key()))
        .collect()
}

/// The template context of `wasm.conf` for a bundle at `bundle` (with no `WasmRelease` id and no
/// status location yet: [`build`] sets both).
pub fn wasm_conf_context(m: &Manifest, bundle: &Path, mod_wasm_so: &Path) -> WasmConfContext {
    let settings = engine_settings(m);
    let layout = BundleLayout::new(bundle);
    WasmConfContext {
        app: m.app_name().to_string(),
        version: format!("mod-wasm {}", env!("CARGO_PKG_VERSION")),
        manifest: m.display_name(),
        bundle: bundle.display().to_string(),
        mod_wasm_so: mod_wasm_so.display().to_string(),
        engine: EngineContext {
            opt_level: settings.opt_level.as_str().into(),
            pooling: m.engine.pooling,
            pooling_max_instances: m.engine.pooling_max_instances,
            cache_dir: m.engine.cache_dir.as_ref().map(|d| d.display().to_string()),
            module_limits: module_limit_words(m),
        },
        routes: m
            .routes
            .iter()
            .map(|r| RouteContext {
                path: r.path.value.clone(),
                module: r.module.value.clone(),
                module_path: layout.cwasm(&r.module.value).display().to_string(),
                settings: r.settings.clone(),
            })
            .collect(),
        release: String::new(),
        status: None,
    }
}

/// `path` made absolute against the current directory (without resolving symlinks).
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

//! OCI module sources: the single seam between the manifest/build code and registry support
//! (crate `mod_wasm_oci`).
//!
//! [`resolve_all`] resolves every `oci://` module of a manifest at once (each given as its name,
//! its parsed reference and the span of its `source=`, so nothing here reads the manifest): the lock file
//! `app.lock` beside the manifest is used where its entry matches the module's source (a tag
//! that moved does not change a locked build), `--locked` refuses any change to it, `--offline`
//! uses only the cache. Downloads run in parallel with progress bars, every blob verified into
//! the content-addressed cache. The lock is written only when every module resolved. Each
//! failure is a [`Problem`] labelled on the module's `source=` span.
//!
//! Registry I/O is bounded ([`registry_options`]): each module's pull has one total deadline
//! (`--registry-timeout`, else the manifest's `registry timeout=`, else 5 minutes), and a layer
//! whose declared size passes the manifest's module-size limit is never downloaded.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::SourceSpan;
use mod_wasm_oci::{
    Cache, LockFile, ModuleRequest, OciClient, OciReference, ProgressEvent, RegistryOptions,
    ResolveOptions, Update,
};

use crate::cli::OciArgs;
use crate::manifest::Manifest;
use crate::problem::Problem;
use crate::sources::ResolvedSource;

/// One `oci://` module to resolve.
#[derive(Clone, Debug)]
pub struct OciModule {
    /// The module's name.
    pub name: String,
    /// Its reference (parsed by the OCI crate when the manifest was read).
    pub reference: OciReference,
    /// Span of its `source=` value: where its problems point.
    pub span: SourceSpan,
}

/// Registry-related switches from the command line.
#[derive(Clone, Debug, Default)]
pub struct OciOptions {
    /// `--offline`: never touch the network; use the lock and the cache only.
    pub offline: bool,
    /// `--locked`: refuse to change the lock file (a reference not pinned yet is an error).
    pub locked: bool,
    /// `--insecure REGISTRY` (repeatable): talk plain HTTP to these registries.
    pub insecure: Vec<String>,
    /// The manifest's folder (where a lock file next to `app.kdl` would live).
    pub manifest_dir: PathBuf,
    /// Draw download progress bars (on a terminal, not with `--quiet`/`--json`).
    pub progress: bool,
    /// `--registry-timeout`, else the manifest's `registry timeout=` (`None`: the default).
    pub registry_timeout: Option<Duration>,
    /// The manifest's module-size compile limit: no larger layer is downloaded (`None`: the
    /// runtime's default).
    pub max_module_size: Option<u64>,
}

impl OciOptions {
    /// The options of a command on manifest `m` with registry switches `args`.
    pub fn new(args: &OciArgs, m: &Manifest, progress: bool) -> OciOptions {
        OciOptions {
            offline: args.offline,
            locked: args.locked,
            insecure: args.insecure.clone(),
            manifest_dir: m.dir.clone(),
            progress,
            registry_timeout: args
                .registry_timeout
                .or_else(|| m.registry.timeout.as_ref().map(|t| t.value)),
            max_module_size: Some(
                m.engine
                    .limits()
                    .get(wasm_runtime::module_limits::Limit::ModuleSize),
            ),
        }
    }
}

/// The CLI's registry options: `insecure` registries on plain HTTP, each operation within
/// `timeout` (else [`mod_wasm_oci::bounds::DEFAULT_TIMEOUT`]), layers up to `max_module_size`
/// (else the runtime's default module-size limit).
pub fn registry_options(
    insecure: &[String],
    timeout: Option<Duration>,
    max_module_size: Option<u64>,
) -> RegistryOptions {
    let defaults = RegistryOptions::default();
    RegistryOptions {
        insecure: insecure.to_vec(),
        docker_config: None,
        timeout: timeout.unwrap_or(defaults.timeout),
        max_blob_size: max_module_size.unwrap_or(defaults.max_blob_size),
    }
}

/// What [`resolve_all`] did.
#[derive(Debug, Default)]
pub struct OciOutcome {
    /// Per module name, the verified blob.
    pub resolved: BTreeMap<String, ResolvedSource>,
    /// Per module name, what it resolved to (the lock entry).
    pub entries: BTreeMap<String, mod_wasm_oci::LockEntry>,
    /// Modules downloaded now (the rest came from the cache).
    pub downloaded: Vec<String>,
    /// Whether `app.lock` was (re)written.
    pub lock_written: bool,
    /// The lock file's path.
    pub lock_path: PathBuf,
}

/// The lock file of the manifest in `dir`.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(mod_wasm_oci::LOCK_FILE_NAME)
}

/// Resolves `modules` (what `build` and `up` need); `app.lock` is used, and written when it
/// changed and everything resolved. Problems with the lock file, the cache or the client point
/// at `file_span` (the top of the manifest).
pub fn resolve_all(
    modules: &[OciModule],
    file_span: SourceSpan,
    options: &OciOptions,
) -> Result<OciOutcome, Vec<Problem>> {
    resolve_with(modules, file_span, options, Update::Nothing)
}

/// [`resolve_all`] with `pull --update`'s choice of modules to re-resolve.
pub fn resolve_with(
    modules: &[OciModule],
    file_span: SourceSpan,
    options: &OciOptions,
    update: Update,
) -> Result<OciOutcome, Vec<Problem>> {
    let lock_path = lock_path(&options.manifest_dir);
    let requests: Vec<ModuleRequest> = modules
        .iter()
        .map(|m| ModuleRequest {
            name: m.name.clone(),
            reference: m.reference.clone(),
        })
        .collect();
    let spans: BTreeMap<&str, SourceSpan> =
        modules.iter().map(|m| (m.name.as_str(), m.span)).collect();
    let lock = LockFile::load(&lock_path)
        .map_err(|e| vec![to_problem(&e, file_span, "the lock file of this manifest")])?;
    let mut outcome = OciOutcome {
        lock_path: lock_path.clone(),
        ..OciOutcome::default()
    };
    if requests.is_empty() && lock.is_none() {
        return Ok(outcome);
    }
    let cache = Cache::open_default().map_err(|e| vec![to_problem(&e, file_span, "cache")])?;
    let client = OciClient::new(
        cache,
        registry_options(
            &options.insecure,
            options.registry_timeout,
            options.max_module_size,
        ),
    )
    .map_err(|e| vec![to_problem(&e, file_span, "registry client")])?;
    let resolve_options = ResolveOptions {
        update,
        offline: options.offline,
        locked: options.locked,
        ..ResolveOptions::default()
    };
    let bars = Bars::new(options.progress && std::io::stderr().is_terminal());
    let on_event = |e: ProgressEvent<'_>| bars.event(e);
    let result = client.resolve(&requests, lock.as_ref(), &resolve_options, &on_event);
    bars.clear();
    let resolution = result.map_err(|errors| {
        errors
            .into_iter()
            .map(|me| {
                let span = spans.get(me.module.as_str()).copied().unwrap_or(file_span);
                let label = match requests.iter().find(|r| r.name == me.module) {
                    Some(r) => r.reference.to_string(),
                    None => format!("module `{}` of app.lock", me.module),
                };
                to_problem(&me.error, span, &label)
            })
            .collect::<Vec<_>>()
    })?;
    if resolution.lock_changed {
        resolution
            .lock
            .write(&lock_path)
            .map_err(|e| vec![to_problem(&e, file_span, "app.lock")])?;
        outcome.lock_written = true;
    }
    for m in resolution.modules {
        // bundle.lock records the exact manifest: oci://REGISTRY/REPO@sha256:MANIFEST.
        let pinned = OciReference::parse(&m.entry.reference)
            .map(|r| r.with_digest(m.entry.manifest_digest.clone()).to_string())
            .unwrap_or_else(|_| m.entry.reference.clone());
        if m.downloaded {
            outcome.downloaded.push(m.name.clone());
        }
        outcome.resolved.insert(
            m.name.clone(),
            ResolvedSource {
                path: m.path,
                sha256: m.entry.layer_digest.hex().to_string(),
                pinned,
                kind: None,
            },
        );
        outcome.entries.insert(m.name, m.entry);
    }
    Ok(outcome)
}

/// A registry error as a manifest problem at `span` (the module's `source=`).
/// `what` names the thing that failed when it is not the module's source (the lock, the cache).
pub fn to_problem(e: &mod_wasm_oci::Error, span: SourceSpan, what: &str) -> Problem {
    let label = if what.starts_with(mod_wasm_oci::SCHEME) {
        e.label().to_string()
    } else {
        format!("{what}: {}", e.label())
    };
    Problem::error(e.code(), e.to_string(), span, label).with_help_opt(e.hint())
}

/// One indicatif bar per download, under one `MultiProgress`.
struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
        Bars {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn event(&self, e: ProgressEvent<'_>) {
        let Some(multi) = &self.multi else { return };
        let mut bars = self.bars.lock().expect("progress bars lock");
        match e {
            ProgressEvent::Downloading { module, total } => {
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(module.to_string());
                bars.insert(module.to_string(), bar);
            }
            ProgressEvent::Advanced { module, done, .. } => {
                if let Some(bar) = bars.get(module) {
                    bar.set_position(done);
                }
            }
            ProgressEvent::Finished { module, .. } | ProgressEvent::Failed { module } => {
                if let Some(bar) = bars.remove(module) {
                    bar.finish_and_clear();
                }
            }
            ProgressEvent::Resolving { .. } => {}
        }
    }

    fn clear(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_limit_is_the_runtimes_module_size_limit() {
        // One truth: the OCI crate's default is the runtime's, and the CLI passes the limit in effect.
        assert_eq!(
            mod_wasm_oci::bounds::DEFAULT_MAX_BLOB_SIZE,
            wasm_runtime::module_limits::DEFAULT_MAX_MODULE_SIZE
        );
        let o = registry_options(&[], None, None);
        assert_eq!(
            o.max_blob_size,
            wasm_runtime::module_limits::DEFAULT_MAX_MODULE_SIZE
        );
        assert_eq!(o.timeout, mod_wasm_oci::bounds::DEFAULT_TIMEOUT);
        let o = registry_options(&["r:1".into()], Some(Duration::from_secs(2)), Some(1 << 20));
        assert_eq!(
            (o.timeout, o.max_blob_size),
            (Duration::from_secs(2), 1 << 20)
        );
        assert_eq!(o.insecure, vec!["r:1".to_string()]);
    }
}

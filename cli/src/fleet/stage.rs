//! From an OCI reference to a bundle folder on this host, ready for [`crate::deploy::deploy`]:
//!
//! 1. a tag is resolved to the manifest digest (the digest is what gets deployed and recorded);
//! 2. with a key, a signature by it must cover that digest (cosign's `sha256-<hex>.sig`);
//! 3. the manifest is pulled by digest and must hash to it; the config (`bundle.lock`) and
//!    every module layer must hash to the digests the manifest names, verified into the cache;
//! 4. the lock must agree with the layers: one `NAME.wasm` layer per module, of the digest the
//!    lock records for it, and nothing else; and every value a template renders must pass the
//!    manifest's own rules ([`super::lock_check`]) — refused (`fleet::unsafe-lock`) before
//!    anything is written or started, whoever signed it;
//! 5. every module is precompiled here with the engine the lock names (the runtime's own
//!    configuration, through the CLI's compiled-code cache), and `wasm.conf` is rendered from
//!    the lock for this host's paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mod_wasm_oci::{Digest, OciClient, OciReference, PublicKey, PulledBundle};
use wasm_runtime::engine::{build_engine, compatibility_hash};

use super::lock_check;
use super::render;
use super::{FleetFailure, Retry};
use crate::bundle::cache::{self, CompiledCache};
use crate::bundle::compile::{CompileError, Compiler, Job};
use crate::bundle::files;
use crate::bundle::layout::BundleLayout;
use crate::bundle::lock::{BundleLock, LOCK_FORMAT};
use crate::render::Templates;

/// A bundle pulled, verified and checked (not yet compiled).
pub struct Fetched {
    /// The reference as given, and pinned to its digest.
    pub reference: OciReference,
    /// The manifest digest.
    pub digest: Digest,
    /// The lock (the artifact's config).
    pub lock: BundleLock,
    /// The lock's bytes.
    pub lock_bytes: Vec<u8>,
    /// Each module name and its verified `.wasm` in the cache.
    pub modules: Vec<(String, PathBuf)>,
    /// True when a signature was verified.
    pub verified: bool,
}

/// A bundle folder made on this host.
pub struct Staged {
    /// The folder (removed when dropped).
    pub dir: tempfile::TempDir,
    /// Modules compiled now.
    pub compiled: usize,
    /// Modules taken from the compiled-code cache.
    pub reused: usize,
    /// True when this host's `bundle.lock` is byte for byte the artifact's (same engine,
    /// same compiled code as the host that built it).
    pub lock_identical: bool,
}

/// Steps 2–4 for `reference` pinned at `digest`.
pub fn fetch(
    client: &OciClient,
    reference: &OciReference,
    digest: &Digest,
    key: Option<&PublicKey>,
) -> Result<Fetched, FleetFailure> {
    let pinned = reference.with_digest(digest.clone());
    if let Some(key) = key {
        client.verify(&pinned, key)?;
    }
    let pulled = client.pull_bundle(&pinned)?;
    let (lock, modules) = check(&pulled)?;
    Ok(Fetched {
        reference: reference.clone(),
        digest: digest.clone(),
        lock,
        lock_bytes: pulled.config,
        modules,
        verified: key.is_some(),
    })
}

fn mismatch(reference: &OciReference, detail: String) -> FleetFailure {
    FleetFailure::new(
        "fleet::bundle-mismatch",
        format!("{reference}: its layers do not match its bundle.lock: {detail}"),
    )
    .help("the artifact was not written by `mod-wasm push --bundle`, or was altered after; nothing was deployed")
}

/// The refusal of a lock whose values cannot be rendered.
pub fn unsafe_lock(reference: &OciReference, e: &lock_check::UnsafeLock) -> FleetFailure {
    FleetFailure::new("fleet::unsafe-lock", format!("{reference}: {e}")).help(lock_check::HELP)
}

/// Step 4: the lock parses, its values pass the lock check, and it and the layers name the same
/// modules with the same digests.
pub fn check(pulled: &PulledBundle) -> Result<(BundleLock, Vec<(String, PathBuf)>), FleetFailure> {
    let reference = &pulled.reference;
    let lock: BundleLock = serde_json::from_slice(&pulled.config).map_err(|e| {
        FleetFailure::new(
            "oci::not-a-bundle",
            format!("{reference}: its config is not a bundle.lock: {e}"),
        )
    })?;
    if lock.format != LOCK_FORMAT {
        return Err(FleetFailure::new(
            "oci::not-a-bundle",
            format!(
                "{reference}: bundle.lock format `{}` (this mod-wasm reads {LOCK_FORMAT})",
                lock.format
            ),
        ));
    }
    lock_check::check(&lock).map_err(|e| unsafe_lock(reference, &e))?;
    let mut modules = Vec::new();
    let mut titles: BTreeSet<&str> = pulled
        .layers
        .iter()
        .map(|(l, _)| l.title.as_str())
        .collect();
    for m in &lock.modules {
        let title = BundleLayout::wasm_file_name(&m.name);
        let Some((layer, path)) = pulled.layers.iter().find(|(l, _)| l.title == title) else {
            return Err(mismatch(
                reference,
                format!("no layer {title} for module `{}`", m.name),
            ));
        };
        if layer.digest.hex() != m.sha256 {
            return Err(mismatch(
                reference,
                format!(
                    "layer {title} is {} but bundle.lock records sha256:{}",
                    layer.digest, m.sha256
                ),
            ));
        }
        titles.remove(title.as_str());
        modules.push((m.name.clone(), path.clone()));
    }
    if let Some(extra) = titles.first() {
        return Err(mismatch(
            reference,
            format!("layer {extra} is no module of bundle.lock"),
        ));
    }
    if let Some(r) = lock
        .routes
        .iter()
        .find(|r| !lock.modules.iter().any(|m| m.name == r.module))
    {
        return Err(mismatch(
            reference,
            format!(
                "route {} names module `{}` that it does not have",
                r.path, r.module
            ),
        ));
    }
    Ok((lock, modules))
}

/// Step 5: compiles `fetched` into a new bundle folder under `parent`.
pub fn stage(
    fetched: &Fetched,
    parent: &Path,
    mod_wasm_so: &Path,
    templates: Option<&Path>,
) -> Result<Staged, FleetFailure> {
    let local = |code: &str, what: String| FleetFailure {
        retry: Retry::Backoff,
        ..FleetFailure::new(code, what)
    };
    let refused = |what: String| FleetFailure::new("fleet::compile", what);
    // Again here, before the first write: whatever made `fetched`.
    lock_check::check(&fetched.lock).map_err(|e| unsafe_lock(&fetched.reference, &e))?;
    files::create_dir(parent)
        .map_err(|e| local("fleet::io", format!("{}: {e}", parent.display())))?;
    remove_stale(parent);
    let dir = tempfile::Builder::new()
        .prefix(".fleet-")
        .tempdir_in(parent)
        .map_err(|e| local("fleet::io", format!("{}: {e}", parent.display())))?;
    let layout = BundleLayout::new(dir.path());
    files::create_dir(&layout.modules_dir()).map_err(|e| {
        local(
            "fleet::io",
            format!("{}: {e}", layout.modules_dir().display()),
        )
    })?;

    let settings = render::engine_settings(&fetched.lock).map_err(|e| {
        refused(format!(
            "bundle.lock asks for an engine this runtime does not have: {e}"
        ))
    })?;
    let limits = render::module_limits(&fetched.lock)
        .map_err(|e| refused(format!("bundle.lock has invalid module limits: {e}")))?;
    let built = build_engine(&settings)
        .map_err(|e| local("fleet::engine", format!("cannot build the engine: {e}")))?;
    let compatibility = compatibility_hash(&built.engine);
    let compiled_cache =
        cache::default_root().and_then(|root| CompiledCache::open(&root, &compatibility).ok());
    let compiler = Compiler {
        engine: &built.engine,
        limits,
        cache: compiled_cache.as_ref(),
        threads: std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1),
    };
    let jobs: Vec<Job> = fetched
        .lock
        .modules
        .iter()
        .zip(&fetched.modules)
        .map(|(m, (_, path))| Job {
            name: m.name.clone(),
            wasm_path: path.clone(),
            sha256: m.sha256.clone(),
        })
        .collect();
    let outcomes = compiler
        .compile_all(&jobs, &layout, &indicatif::ProgressBar::hidden())
        .map_err(|e| match e {
            CompileError::Io { .. } => local("fleet::io", e.to_string()),
            other => refused(other.to_string()),
        })?;

    // This host's lock: the artifact's, with what this host compiled.
    let mut lock = fetched.lock.clone();
    lock.engine.compatibility = compatibility;
    for (m, outcome) in lock.modules.iter_mut().zip(&outcomes) {
        m.cwasm_sha256 = outcome.cwasm_sha256.clone();
        m.wasm_kind = outcome.kind;
    }
    // Written as `mod-wasm build` writes it: the same bytes when this host compiled the same
    // code with the same engine.
    let lock_text = serde_json::to_string_pretty(&lock).expect("lock serialises") + "\n";
    let release = crate::bundle::release_id(lock_text.as_bytes());
    let source = super::recorded_source(&fetched.reference, &fetched.digest);
    let conf = Templates::load(templates)
        .and_then(|t| {
            t.wasm_conf(&render::context(
                &lock,
                dir.path(),
                mod_wasm_so,
                &source,
                release,
            ))
        })
        .map_err(|e| local("fleet::template", e.to_string()))?;
    for (path, text) in [
        (layout.lock(), lock_text.as_str()),
        (layout.wasm_conf(), conf.as_str()),
        (layout.gitignore(), "*\n"),
    ] {
        files::write_file(&path, text.as_bytes())
            .map_err(|e| local("fleet::io", format!("{}: {e}", path.display())))?;
    }
    let compiled = outcomes.iter().filter(|o| o.compiled).count();
    Ok(Staged {
        lock_identical: lock_text.as_bytes() == fetched.lock_bytes.as_slice(),
        reused: outcomes.len() - compiled,
        compiled,
        dir,
    })
}

/// Removes staging folders left by a deploy that was killed (older than an hour: a staging in
/// progress is minutes old at most).
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if stale && entry.file_name().to_string_lossy().starts_with(".fleet-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

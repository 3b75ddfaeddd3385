//! Resolving a manifest's OCI modules to verified blobs in the cache, with the lock file:
//!
//! - a module whose lock entry matches its reference uses the pinned digests (no registry
//!   request at all when the blob is cached), so a tag that moved does not change the build;
//! - `update` re-resolves all or some modules' references on the registry;
//! - `locked` refuses any change to the lock (missing, changed, stale or updated entries);
//! - `offline` never contacts a registry: only the cache serves.
//!
//! Each module is one registry operation (its manifest, index entry and layer) with its own
//! total deadline; a layer whose declared size passes the module-size limit is never requested.
//!
//! Modules resolve concurrently. A resolution either succeeds for every module and returns
//! the new lock, or returns every module's error: the caller writes the lock only on success,
//! and the cache only ever gains verified blobs.

use std::path::PathBuf;

use futures_util::StreamExt;

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::Error;
use crate::lock::{LockEntry, LockFile};
use crate::media::{Parsed, parse_manifest};
use crate::progress::{ProgressEvent, ProgressFn};
use crate::reference::OciReference;
use crate::registry::Transport;

/// One OCI module of a manifest.
#[derive(Debug, Clone)]
pub struct ModuleRequest {
    /// Module name, as in the manifest.
    pub name: String,
    /// Its `oci://` source.
    pub reference: OciReference,
}

/// Which modules re-resolve their references on the registry, ignoring the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// None: the lock wins where it matches.
    #[default]
    Nothing,
    /// Every module.
    All,
    /// These modules.
    Modules(Vec<String>),
}

/// How to resolve.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Modules to re-resolve.
    pub update: Update,
    /// Use only the cache.
    pub offline: bool,
    /// Fail when the lock would change.
    pub locked: bool,
    /// Downloads at once.
    pub max_parallel: usize,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            update: Update::Nothing,
            offline: false,
            locked: false,
            max_parallel: 4,
        }
    }
}

/// One module, resolved and cached.
#[derive(Debug, Clone)]
pub struct ResolvedModule {
    /// Module name.
    pub name: String,
    /// What it resolved to (the lock entry).
    pub entry: LockEntry,
    /// The verified Wasm blob in the cache.
    pub path: PathBuf,
    /// True when it was downloaded now (false: served from the cache).
    pub downloaded: bool,
}

/// A successful resolution.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Every requested module, in request order.
    pub modules: Vec<ResolvedModule>,
    /// The lock as it should now be.
    pub lock: LockFile,
    /// True when `lock` differs from the lock passed in (write it).
    pub lock_changed: bool,
}

/// A module's failure.
#[derive(Debug)]
pub struct ModuleError {
    /// Module name (for a stale lock entry, the entry's name).
    pub module: String,
    /// What failed.
    pub error: Error,
}

pub(crate) async fn resolve_all(
    transport: &Transport,
    cache: &Cache,
    requests: &[ModuleRequest],
    lock: Option<&LockFile>,
    options: &ResolveOptions,
    progress: ProgressFn<'_>,
) -> Result<Resolution, Vec<ModuleError>> {
    let ctx = Ctx {
        transport,
        cache,
        options,
        progress,
    };
    let results: Vec<_> = futures_util::stream::iter(requests)
        .map(|req| {
            let ctx = &ctx;
            async move {
                let result = ctx
                    .transport
                    .bounded(
                        req.reference.registry(),
                        || format!("the pull of module `{}` ({})", req.name, req.reference),
                        ctx.resolve_one(req, lock.and_then(|l| l.get(&req.name))),
                    )
                    .await;
                match &result {
                    Ok(m) => (ctx.progress)(ProgressEvent::Finished {
                        module: &req.name,
                        from_cache: !m.downloaded,
                    }),
                    Err(_) => (ctx.progress)(ProgressEvent::Failed { module: &req.name }),
                }
                result.map_err(|error| ModuleError {
                    module: req.name.clone(),
                    error,
                })
            }
        })
        .buffered(options.max_parallel.max(1))
        .collect()
        .await;

    let mut errors = Vec::new();
    let mut modules = Vec::new();
    for r in results {
        match r {
            Ok(m) => modules.push(m),
            Err(e) => errors.push(e),
        }
    }
    let mut new_lock = lock.cloned().unwrap_or_else(LockFile::new);
    for m in &modules {
        new_lock.upsert(m.entry.clone());
    }
    let names: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
    let dropped = new_lock.retain_modules(&names);
    if options.locked {
        errors.extend(dropped.into_iter().map(|module| ModuleError {
            error: Error::LockWouldChange {
                module: module.clone(),
                reason: "the lock has an entry for a module the manifest no longer has".to_string(),
            },
            module,
        }));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let lock_changed = match lock {
        Some(old) => old.to_text() != new_lock.to_text(),
        None => !new_lock.modules.is_empty(),
    };
    Ok(Resolution {
        modules,
        lock: new_lock,
        lock_changed,
    })
}

struct Ctx<'a> {
    transport: &'a Transport,
    cache: &'a Cache,
    options: &'a ResolveOptions,
    progress: ProgressFn<'a>,
}

impl Ctx<'_> {
    async fn resolve_one(
        &self,
        req: &ModuleRequest,
        locked: Option<&LockEntry>,
    ) -> Result<ResolvedModule, Error> {
        let canonical = req.reference.to_string();
        let update = match &self.options.update {
            Update::Nothing => false,
            Update::All => true,
            Update::Modules(names) => names.contains(&req.name),
        };
        match locked {
            Some(entry) if entry.reference == canonical && !update => {
                return self.materialize(req, entry).await;
            }
            _ => {}
        }
        if self.options.locked && !update {
            // Nothing to ask the registry: the lock cannot stay as it is.
            return Err(Error::LockWouldChange {
                module: req.name.clone(),
                reason: lock_gap(locked, &canonical),
            });
        }
        let fresh = if self.options.offline {
            self.resolve_offline(req).await?
        } else {
            self.resolve_online(req).await?
        };
        if self.options.locked && locked != Some(&fresh.entry) {
            let reason = match locked {
                Some(old) if old.reference == canonical => format!(
                    "{canonical} now resolves to {} (locked: {})",
                    fresh.entry.manifest_digest, old.manifest_digest
                ),
                _ => lock_gap(locked, &canonical),
            };
            return Err(Error::LockWouldChange {
                module: req.name.clone(),
                reason,
            });
        }
        Ok(fresh)
    }

    /// A locked module: its blob from the cache, else downloaded by digest.
    async fn materialize(
        &self,
        req: &ModuleRequest,
        entry: &LockEntry,
    ) -> Result<ResolvedModule, Error> {
        if let Some(path) = self.cache.get(&entry.layer_digest)? {
            return Ok(self.done(req, entry.clone(), path, false));
        }
        if self.options.offline {
            return Err(Error::NotCached {
                reference: entry.reference.clone(),
                detail: format!("locked layer {} is missing", entry.layer_digest),
            });
        }
        let pinned = req.reference.with_digest(entry.manifest_digest.clone());
        let path = self
            .download(req, &pinned, &entry.layer_digest, entry.size)
            .await?;
        Ok(self.done(req, entry.clone(), path, true))
    }

    async fn resolve_online(&self, req: &ModuleRequest) -> Result<ResolvedModule, Error> {
        let canonical = req.reference.to_string();
        (self.progress)(ProgressEvent::Resolving {
            module: &req.name,
            reference: &canonical,
        });
        let (bytes, digest) = self.transport.fetch_manifest(&req.reference).await?;
        self.cache
            .insert(&digest, &bytes, &format!("manifest of {canonical}"))?;
        let (manifest_digest, layer, layer_digest) = match parse_manifest(&bytes, None, &canonical)?
        {
            Parsed::Image {
                layer,
                layer_digest,
            } => (digest, layer, layer_digest),
            Parsed::Index { entry } => {
                let entry_digest = parse_digest(&entry.digest, &req.reference)?;
                let entry_ref = req.reference.with_digest(entry_digest);
                let (bytes, digest) = self.transport.fetch_manifest(&entry_ref).await?;
                self.cache
                    .insert(&digest, &bytes, &format!("manifest of {entry_ref}"))?;
                match parse_manifest(&bytes, Some(&entry.media_type), &canonical)? {
                    Parsed::Image {
                        layer,
                        layer_digest,
                    } => (digest, layer, layer_digest),
                    Parsed::Index { .. } => return Err(nested_index(&canonical)),
                }
            }
        };
        let (path, downloaded) = match self.cache.get(&layer_digest)? {
            Some(path) => (path, false),
            None => {
                let pinned = req.reference.with_digest(manifest_digest.clone());
                (
                    self.download(req, &pinned, &layer_digest, layer.size)
                        .await?,
                    true,
                )
            }
        };
        let entry = LockEntry {
            name: req.name.clone(),
            reference: canonical,
            tag: req.reference.tag().map(str::to_string),
            manifest_digest,
            layer_digest,
            size: layer.size,
            media_type: layer.media_type,
        };
        Ok(self.done(req, entry, path, downloaded))
    }

    /// Without a lock entry, offline resolution needs a digest-pinned reference whose
    /// manifest is cached.
    async fn resolve_offline(&self, req: &ModuleRequest) -> Result<ResolvedModule, Error> {
        let canonical = req.reference.to_string();
        let not_cached = |detail: String| Error::NotCached {
            reference: canonical.clone(),
            detail,
        };
        let Some(pinned) = req.reference.digest() else {
            return Err(not_cached(
                "app.lock has no entry for this module, and a tag can only be resolved by the registry".to_string(),
            ));
        };
        let bytes = self
            .cache
            .read(pinned)?
            .ok_or_else(|| not_cached(format!("manifest {pinned} is missing")))?;
        let (manifest_digest, layer, layer_digest) = match parse_manifest(&bytes, None, &canonical)?
        {
            Parsed::Image {
                layer,
                layer_digest,
            } => (pinned.clone(), layer, layer_digest),
            Parsed::Index { entry } => {
                let entry_digest = parse_digest(&entry.digest, &req.reference)?;
                let bytes = self
                    .cache
                    .read(&entry_digest)?
                    .ok_or_else(|| not_cached(format!("manifest {entry_digest} is missing")))?;
                match parse_manifest(&bytes, Some(&entry.media_type), &canonical)? {
                    Parsed::Image {
                        layer,
                        layer_digest,
                    } => (entry_digest, layer, layer_digest),
                    Parsed::Index { .. } => return Err(nested_index(&canonical)),
                }
            }
        };
        let path = self
            .cache
            .get(&layer_digest)?
            .ok_or_else(|| not_cached(format!("layer {layer_digest} is missing")))?;
        let entry = LockEntry {
            name: req.name.clone(),
            reference: canonical.clone(),
            tag: req.reference.tag().map(str::to_string),
            manifest_digest,
            layer_digest,
            size: layer.size,
            media_type: layer.media_type,
        };
        Ok(self.done(req, entry, path, false))
    }

    async fn download(
        &self,
        req: &ModuleRequest,
        reference: &OciReference,
        digest: &Digest,
        total: u64,
    ) -> Result<PathBuf, Error> {
        (self.progress)(ProgressEvent::Downloading {
            module: &req.name,
            total,
        });
        let what = format!("the Wasm layer of {}", req.reference);
        let mut writer = self.cache.writer_sized(digest, Some(total), &what)?;
        let report = |done: u64| {
            (self.progress)(ProgressEvent::Advanced {
                module: &req.name,
                done,
                total,
            })
        };
        self.transport
            .fetch_blob(
                reference,
                digest,
                total,
                self.transport.max_blob_size(),
                &what,
                &mut writer,
                &report,
            )
            .await?;
        writer.commit()
    }

    fn done(
        &self,
        req: &ModuleRequest,
        entry: LockEntry,
        path: PathBuf,
        downloaded: bool,
    ) -> ResolvedModule {
        ResolvedModule {
            name: req.name.clone(),
            entry,
            path,
            downloaded,
        }
    }
}

fn lock_gap(locked: Option<&LockEntry>, canonical: &str) -> String {
    match locked {
        None => "app.lock has no entry for it".to_string(),
        Some(old) => format!("its source changed from {} to {canonical}", old.reference),
    }
}

fn parse_digest(text: &str, reference: &OciReference) -> Result<Digest, Error> {
    text.parse().map_err(|e| Error::Registry {
        registry: reference.registry().to_string(),
        detail: format!("index entry of {reference}: {e}"),
    })
}

fn nested_index(reference: &str) -> Error {
    Error::UnexpectedMediaType {
        kind: "index entry",
        found: crate::media::OCI_INDEX.to_string(),
        accepted: vec![
            crate::media::OCI_MANIFEST.to_string(),
            crate::media::DOCKER_MANIFEST.to_string(),
        ],
        reference: reference.to_string(),
    }
}

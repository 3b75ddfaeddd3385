//! The blocking façade the CLI drives: [`OciClient`] owns a current-thread tokio runtime and
//! runs each operation to completion on it (downloads of several modules still overlap: they
//! are concurrent futures on that one thread). Do not call it from inside a tokio runtime.
//!
//! Every operation runs against one total deadline ([`RegistryOptions::timeout`]) and the
//! client's stop flag ([`OciClient::stop_flag`]); a resolve gives each module its own.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::auth::{Credentials, DockerConfig};
use crate::bundle::{BundleModule, PulledBundle, PushedBundle};
use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lock::LockFile;
use crate::progress::ProgressFn;
use crate::pull::{ModuleError, ModuleRequest, Resolution, ResolveOptions};
use crate::push::{Layout, Pushed};
use crate::reference::OciReference;
use crate::registry::{RegistryOptions, Transport};
use crate::sign::{PrivateKey, PublicKey, Signed, Verified};

/// Registry operations against one cache.
pub struct OciClient {
    transport: Transport,
    cache: Cache,
    runtime: tokio::runtime::Runtime,
}

impl OciClient {
    /// A client filling `cache`, reaching registries as `options` says.
    pub fn new(cache: Cache, options: RegistryOptions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(OciClient {
            transport: Transport::new(options)?,
            cache,
            runtime,
        })
    }

    /// The flag that stops this client: once set, an operation under way ends at once with
    /// [`Error::Cancelled`] (its connections closed, no partial blob kept), and so does every
    /// later one. A signal handler may set it (e.g. `signal_hook::flag::register`).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.transport.stop_flag()
    }

    /// Runs `operation` on `registry` to completion, within the deadline, unless stopped.
    fn run<T>(
        &self,
        registry: &str,
        what: impl FnOnce() -> String,
        operation: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.runtime
            .block_on(self.transport.bounded(registry, what, operation))
    }

    /// The cache this client fills.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Resolves every module to a verified blob in the cache, honouring `lock` as
    /// [`ResolveOptions`] say. On success the caller writes `Resolution::lock` when
    /// `lock_changed`; on failure every module's error is returned and nothing should be written.
    pub fn resolve(
        &self,
        requests: &[ModuleRequest],
        lock: Option<&LockFile>,
        options: &ResolveOptions,
        progress: ProgressFn<'_>,
    ) -> Result<Resolution, Vec<ModuleError>> {
        self.runtime.block_on(crate::pull::resolve_all(
            &self.transport,
            &self.cache,
            requests,
            lock,
            options,
            progress,
        ))
    }

    /// Pushes the Wasm file at `path` to `reference` in `layout`.
    pub fn push_file(
        &self,
        path: &Path,
        reference: &OciReference,
        layout: Layout,
    ) -> Result<Pushed> {
        let wasm = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        crate::push::check_wasm(path, &wasm)?;
        self.push_bytes(wasm, reference, layout)
    }

    /// Pushes Wasm bytes to `reference` in `layout`.
    pub fn push_bytes(
        &self,
        wasm: Vec<u8>,
        reference: &OciReference,
        layout: Layout,
    ) -> Result<Pushed> {
        self.run(
            reference.registry(),
            || format!("the push of {reference}"),
            crate::push::push(&self.transport, wasm, reference, layout),
        )
    }

    /// Checks `user`/`password` against `registry`, then records them in `config` (the Docker
    /// config file, or its credential helper).
    pub fn login(
        &self,
        registry: &str,
        user: &str,
        password: &str,
        config: &DockerConfig,
    ) -> Result<()> {
        let creds = Credentials::Basic(user.to_string(), password.to_string());
        self.run(
            registry,
            || "the login check".to_string(),
            self.transport.check_login(registry, &creds),
        )?;
        config.store(registry, user, password)
    }

    /// The manifest digest `reference` names now: its pin, or what its tag points at (the
    /// manifest is fetched and hashed; a registry announcing another digest is refused).
    pub fn resolve_digest(&self, reference: &OciReference) -> Result<Digest> {
        if let Some(d) = reference.digest() {
            return Ok(d.clone());
        }
        let (_, digest) = self.run(
            reference.registry(),
            || format!("resolving {reference}"),
            self.transport.fetch_manifest(reference),
        )?;
        Ok(digest)
    }

    /// Pushes a bundle: `config` (its `bundle.lock`) and one layer per module, tagged as
    /// `reference` says.
    pub fn push_bundle(
        &self,
        config: Vec<u8>,
        modules: Vec<BundleModule>,
        reference: &OciReference,
    ) -> Result<PushedBundle> {
        self.run(
            reference.registry(),
            || format!("the push of bundle {reference}"),
            crate::bundle::push_bundle(&self.transport, config, modules, reference),
        )
    }

    /// Pulls the bundle `reference` pins (by digest): manifest, config and every layer,
    /// each verified against its digest into the cache.
    pub fn pull_bundle(&self, reference: &OciReference) -> Result<PulledBundle> {
        self.run(
            reference.registry(),
            || format!("the pull of bundle {reference}"),
            crate::bundle::pull_bundle(&self.transport, &self.cache, reference),
        )
    }

    /// Points `tag` at the manifest `reference` pins; returns the tagged reference and digest.
    pub fn tag(&self, reference: &OciReference, tag: &str) -> Result<(OciReference, Digest)> {
        self.run(
            reference.registry(),
            || format!("tagging {reference} as {tag}"),
            crate::bundle::tag(&self.transport, reference, tag),
        )
    }

    /// Signs the manifest `reference` pins with `key`, stored where cosign stores it.
    pub fn sign(&self, reference: &OciReference, key: &PrivateKey) -> Result<Signed> {
        self.run(
            reference.registry(),
            || format!("signing {reference}"),
            crate::sign::sign(&self.transport, reference, key),
        )
    }

    /// Verifies that a signature by `key` covers the manifest `reference` pins.
    pub fn verify(&self, reference: &OciReference, key: &PublicKey) -> Result<Verified> {
        self.run(
            reference.registry(),
            || format!("the signature check of {reference}"),
            crate::sign::verify(&self.transport, &self.cache, reference, key),
        )
    }
}

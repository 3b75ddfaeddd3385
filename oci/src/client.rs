//! The blocking façade the CLI drives: [`OciClient`] owns a current-thread tokio runtime and
//! runs each operation to completion on it (downloads of several modules still overlap: they
//! are concurrent futures on that one thread). Do not call it from inside a tokio runtime.

use std::path::Path;

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
            transport: Transport::new(options),
            cache,
            runtime,
        })
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
        self.runtime
            .block_on(crate::push::push(&self.transport, wasm, reference, layout))
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
        self.runtime
            .block_on(self.transport.check_login(registry, &creds))?;
        config.store(registry, user, password)
    }

    /// The manifest digest `reference` names now: its pin, or what its tag points at (the
    /// manifest is fetched and hashed; a registry announcing another digest is refused).
    pub fn resolve_digest(&self, reference: &OciReference) -> Result<Digest> {
        if let Some(d) = reference.digest() {
            return Ok(d.clone());
        }
        let (_, digest) = self
            .runtime
            .block_on(self.transport.fetch_manifest(reference))?;
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
        self.runtime.block_on(crate::bundle::push_bundle(
            &self.transport,
            config,
            modules,
            reference,
        ))
    }

    /// Pulls the bundle `reference` pins (by digest): manifest, config and every layer,
    /// each verified against its digest into the cache.
    pub fn pull_bundle(&self, reference: &OciReference) -> Result<PulledBundle> {
        self.runtime.block_on(crate::bundle::pull_bundle(
            &self.transport,
            &self.cache,
            reference,
        ))
    }

    /// Points `tag` at the manifest `reference` pins; returns the tagged reference and digest.
    pub fn tag(&self, reference: &OciReference, tag: &str) -> Result<(OciReference, Digest)> {
        self.runtime
            .block_on(crate::bundle::tag(&self.transport, reference, tag))
    }

    /// Signs the manifest `reference` pins with `key`, stored where cosign stores it.
    pub fn sign(&self, reference: &OciReference, key: &PrivateKey) -> Result<Signed> {
        self.runtime
            .block_on(crate::sign::sign(&self.transport, reference, key))
    }

    /// Verifies that a signature by `key` covers the manifest `reference` pins.
    pub fn verify(&self, reference: &OciReference, key: &PublicKey) -> Result<Verified> {
        self.runtime.block_on(crate::sign::verify(
            &self.transport,
            &self.cache,
            reference,
            key,
        ))
    }
}

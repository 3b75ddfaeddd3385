//! OCI registry support for mod-wasm: Wasm modules shipped the way images are.
//!
//! - [`OciReference`]: `oci://REGISTRY/REPO:TAG` and `oci://REGISTRY/REPO@sha256:…`.
//! - [`OciClient::resolve`]: pull with manifest/index resolution, the accepted media-type
//!   layouts and the exactly-one-Wasm-layer rule ([`media`]), into the content-addressed
//!   [`Cache`], pinned by the [`LockFile`] (`app.lock`), concurrently, with progress events.
//! - [`OciClient::push_file`]: the CNCF Wasm layout, or the wasm-to-oci one ([`Layout`]).
//! - [`OciClient::login`] and [`DockerConfig`]: credentials in the Docker config file.
//! - [`OciClient::push_bundle`], [`OciClient::pull_bundle`], [`OciClient::tag`]: whole bundles
//!   as one artifact ([`bundle`]); [`OciClient::sign`] / [`OciClient::verify`]: cosign-compatible
//!   key-based signatures ([`sign`]).
//! - [`Error`]: one `thiserror` enum, with [`Error::code`] and [`Error::hint`] for diagnostics.
//!
//! - [`bounds`]: every registry read is bounded in size (manifests and configs 4 MiB, layers the
//!   module-size limit, checked before download) and every operation in time (one total
//!   deadline, a stop flag); [`untrusted::escape`] is how registry text is shown.
//!
//! Plain HTTP is used only for loopback registries and those in
//! [`RegistryOptions::insecure`]; everything else is HTTPS (rustls with ring).

pub mod auth;
pub mod bounds;
pub mod bundle;
pub mod cache;
mod client;
mod deadline;
pub mod digest;
pub mod error;
mod fetch;
pub mod lock;
pub mod loopback;
pub mod media;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
mod registry;
pub mod sign;
pub mod untrusted;

pub use auth::{Credentials, DockerConfig};
pub use bundle::{BundleLayer, BundleModule, PulledBundle, PushedBundle};
pub use cache::Cache;
pub use client::OciClient;
pub use digest::Digest;
pub use error::{Error, Result};
pub use lock::{LOCK_FILE_NAME, LockEntry, LockFile};
pub use loopback::is_loopback;
pub use progress::{ProgressEvent, ProgressFn, no_progress};
pub use pull::{ModuleError, ModuleRequest, Resolution, ResolveOptions, ResolvedModule, Update};
pub use push::{Layout, Pushed};
pub use reference::{OciReference, SCHEME};
pub use registry::RegistryOptions;
pub use sign::{PrivateKey, PublicKey, Signed, Verified};

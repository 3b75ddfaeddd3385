//! OCI module sources: the single seam between the manifest/build code and registry support.
//!
//! `build` (and `up`) call [`resolve`] once per `oci://` module, before compiling. It must
//! return the local path of a blob whose SHA-256 has been verified (in the content-addressed
//! cache), its digest, and the pinned reference to record in `bundle.lock`. Any failure is a
//! [`Problem`] labelled on the module's `source=` span, so it renders like every other
//! manifest diagnostic.
//!
//! This file is owned by the OCI work; until it lands, every OCI source is refused.

use std::path::PathBuf;

use miette::SourceSpan;

use crate::manifest::problem::Problem;
use crate::sources::ResolvedSource;

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
}

/// Resolves `oci://{reference}` (the text after the scheme) to a verified local blob.
/// `span` is the `source=` entry in the manifest, for the diagnostic on failure.
pub fn resolve(
    reference: &str,
    span: SourceSpan,
    options: &OciOptions,
) -> Result<ResolvedSource, Problem> {
    let _ = options;
    Err(Problem::error(
        "oci::unsupported",
        "OCI sources need `mod-wasm pull` support (not built yet)",
        span,
        format!("oci://{reference}"),
    )
    .with_help("use a local .wasm path (or a file: URL) for now"))
}

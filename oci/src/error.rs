//! The one error type of the crate: every way an OCI operation can fail, each variant carrying
//! what a user needs to act on it. `code()` and `hint()` let the CLI turn any of them into a
//! miette diagnostic without matching on strings.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a registry, the cache, the lock file or the Docker
/// credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not an `oci://REGISTRY/REPO[:TAG][@sha256:…]` reference.
    #[error("invalid OCI reference `{input}`: {reason}")]
    InvalidReference {
        /// What the user wrote.
        input: String,
        /// Why it does not parse.
        reason: String,
    },

    /// No connection to the registry (refused, DNS, TLS, timeout).
    #[error("registry {registry} is unreachable: {detail}")]
    Unreachable {
        /// Registry host[:port].
        registry: String,
        /// The transport's own message.
        detail: String,
    },

    /// The registry answered 401 or 403.
    #[error("registry {registry} refused access to {repository} ({status}): {detail}")]
    Unauthorized {
        /// Registry host[:port].
        registry: String,
        /// Repository the request was for.
        repository: String,
        /// 401 (no or wrong credentials) or 403 (credentials lack permission).
        status: u16,
        /// The registry's message.
        detail: String,
    },

    /// The tag, manifest, repository or blob does not exist on the registry.
    #[error("{what} not found: {reference}")]
    NotFound {
        /// `tag or manifest`, `repository`, `blob`.
        what: &'static str,
        /// The reference (or blob digest) asked for.
        reference: String,
    },

    /// Downloaded (or cached) bytes do not hash to the digest that names them.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked, e.g. `layer of oci://…`.
        what: String,
        /// The digest the content is named by.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },

    /// A blob's length differs from the size its descriptor declares.
    #[error(
        "size mismatch for {what}: the descriptor says {expected} bytes, the registry sent {actual}"
    )]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// Declared size.
        expected: u64,
        /// Bytes received (at least).
        actual: u64,
    },

    /// A manifest, config or layer has a media type this crate does not accept.
    #[error("unexpected {kind} media type `{found}` in {reference} (accepted: {})", .accepted.join(", "))]
    UnexpectedMediaType {
        /// `manifest`, `config` or `index entry`.
        kind: &'static str,
        /// The media type found.
        found: String,
        /// The media types accepted there.
        accepted: Vec<String>,
        /// The reference being resolved.
        reference: String,
    },

    /// The image manifest has no Wasm layer.
    #[error("{reference} has no Wasm layer (layers found: {})", list_or_none(.found))]
    NoWasmLayer {
        /// The reference being resolved.
        reference: String,
        /// `media-type digest` of every layer found.
        found: Vec<String>,
    },

    /// The image manifest has more than one Wasm layer, so which one to run is ambiguous.
    #[error("{reference} has {} Wasm layers, expected exactly one: {}", .found.len(), .found.join(", "))]
    TooManyWasmLayers {
        /// The reference being resolved.
        reference: String,
        /// `media-type digest` of every Wasm layer found.
        found: Vec<String>,
    },

    /// An image index has no entry for the `wasi` OS or the `wasm` architecture.
    #[error("image index {reference} has no wasi/wasm entry (platforms found: {})", list_or_none(.found))]
    NoWasmPlatform {
        /// The reference being resolved.
        reference: String,
        /// `os/architecture` of every entry found.
        found: Vec<String>,
    },

    /// `--offline` and the content is not in the cache.
    #[error("{reference} is not in the cache ({detail}) and the build is offline")]
    NotCached {
        /// The reference being resolved.
        reference: String,
        /// What is missing.
        detail: String,
    },

    /// `--locked` and resolving would change `app.lock`.
    #[error("app.lock would change for module `{module}`: {reason}")]
    LockWouldChange {
        /// The module whose entry would change.
        module: String,
        /// Why (missing entry, reference changed, stale entry).
        reason: String,
    },

    /// The lock file cannot be read or written, or is malformed.
    #[error("lock file {}: {detail}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// The Docker config file or a credential helper failed.
    #[error("credentials for {registry}: {detail}")]
    Credentials {
        /// Registry host[:port].
        registry: String,
        /// What failed.
        detail: String,
    },

    /// The file to push is not a WebAssembly binary.
    #[error("{} is not a WebAssembly binary: {detail}", .path.display())]
    NotWasm {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// Any other registry error (5xx, spec violation, malformed manifest).
    #[error("registry {registry}: {detail}")]
    Registry {
        /// Registry host[:port].
        registry: String,
        /// What went wrong.
        detail: String,
    },

    /// The manifest fetched does not hash to the digest that names it (the reference's pin, or
    /// the digest the registry announced): the registry served tampered or corrupt metadata.
    #[error("manifest of {reference} does not match its digest: expected {expected}, got {actual}")]
    ManifestMismatch {
        /// The reference fetched.
        reference: String,
        /// The digest it is named by.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },

    /// The artifact is not a mod-wasm bundle (wrong artifact or config type, a layer that is not
    /// a titled Wasm module), or its layers disagree with its `bundle.lock`.
    #[error("{reference} is not a valid mod-wasm bundle: {detail}")]
    NotABundle {
        /// The reference.
        reference: String,
        /// What is wrong.
        detail: String,
    },

    /// A key is required and the artifact has no signature (no `sha256-<hex>.sig` image).
    #[error("{reference} is not signed (no signature at {signature})")]
    Unsigned {
        /// The pinned reference.
        reference: String,
        /// Where the signature was looked for.
        signature: String,
    },

    /// Signatures exist but none verifies with the configured key.
    #[error("no signature of {reference} verifies with {key}: {}", .reasons.join("; "))]
    BadSignature {
        /// The pinned reference.
        reference: String,
        /// The key used (its file).
        key: String,
        /// Why each signature was refused.
        reasons: Vec<String>,
    },

    /// A signing or verification key cannot be read.
    #[error("key {}: {detail}", .path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// A registry response is larger than this crate reads: a manifest, index, signature
    /// manifest or bundle config over [`crate::bounds::MAX_MANIFEST_SIZE`], or a layer whose
    /// declared size passes the module-size limit. Refused while it streams (or before any
    /// byte of it is read when its size is declared).
    #[error("{what} from registry {registry} is larger than {}{}", crate::bounds::size_text(*.limit), declared_text(*.declared))]
    TooLarge {
        /// Registry host[:port].
        registry: String,
        /// What was being read, e.g. `manifest of oci://…`, `layer hello.wasm of oci://…`.
        what: String,
        /// The most this crate reads of it.
        limit: u64,
        /// The size the registry declared (descriptor or `Content-Length`), when it did.
        declared: Option<u64>,
    },

    /// A registry operation did not finish within its deadline (`--registry-timeout`): the
    /// registry stalled, trickled, or is too slow for the deadline.
    #[error("registry {registry} did not finish {operation} within {}: it stalled or is too slow", crate::bounds::duration_text(*.after))]
    Timeout {
        /// Registry host[:port].
        registry: String,
        /// The operation, e.g. `the pull of module `python` (oci://…)`.
        operation: String,
        /// The deadline.
        after: std::time::Duration,
    },

    /// The operation was stopped (the client's stop flag, e.g. SIGTERM in the follow agent).
    #[error("{operation} on registry {registry} was stopped")]
    Cancelled {
        /// Registry host[:port].
        registry: String,
        /// The operation.
        operation: String,
    },

    /// A file operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn declared_text(declared: Option<u64>) -> String {
    match declared {
        Some(n) => format!(" (it declares {n} bytes)"),
        None => " (it sent more)".to_string(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// A stable diagnostic code, e.g. `oci::unauthorized`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidReference { .. } => "oci::invalid-reference",
            Error::Unreachable { .. } => "oci::unreachable",
            Error::Unauthorized { .. } => "oci::unauthorized",
            Error::NotFound { .. } => "oci::not-found",
            Error::DigestMismatch { .. } => "oci::digest-mismatch",
            Error::SizeMismatch { .. } => "oci::size-mismatch",
            Error::UnexpectedMediaType { .. } => "oci::media-type",
            Error::NoWasmLayer { .. } => "oci::no-wasm-layer",
            Error::TooManyWasmLayers { .. } => "oci::too-many-wasm-layers",
            Error::NoWasmPlatform { .. } => "oci::no-wasm-platform",
            Error::NotCached { .. } => "oci::not-cached",
            Error::LockWouldChange { .. } => "oci::lock-would-change",
            Error::Lock { .. } => "oci::lock",
            Error::Credentials { .. } => "oci::credentials",
            Error::NotWasm { .. } => "oci::not-wasm",
            Error::Registry { .. } => "oci::registry",
            Error::ManifestMismatch { .. } => "oci::manifest-mismatch",
            Error::NotABundle { .. } => "oci::not-a-bundle",
            Error::Unsigned { .. } => "oci::unsigned",
            Error::BadSignature { .. } => "oci::bad-signature",
            Error::Key { .. } => "oci::key",
            Error::TooLarge { .. } => "oci::too-large",
            Error::Timeout { .. } => "oci::timeout",
            Error::Cancelled { .. } => "oci::cancelled",
            Error::Io { .. } => "oci::io",
        }
    }

    /// A hint on what to do next, where one helps.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InvalidReference { .. } => {
                "write oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:DIGEST"
                    .to_string()
            }
            Error::Unreachable { registry, .. } if crate::loopback::is_loopback(registry) => {
                "is the registry running? `--offline` builds from the cache".to_string()
            }
            Error::Unreachable { registry, .. } => format!(
                "is the registry running? `--offline` builds from the cache; a registry served over plain HTTP needs --insecure {registry}"
            ),
            Error::Unauthorized { registry, status, .. } => {
                if *status == 403 {
                    "the credentials were accepted but lack permission for this repository".to_string()
                } else {
                    format!("log in first: mod-wasm login {registry} -u USER --password-stdin")
                }
            }
            Error::NotFound { .. } => "check the repository and tag; list tags with your registry's tools".to_string(),
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => {
                "the content does not match its digest: the registry served tampered or corrupt data; nothing was cached".to_string()
            }
            Error::UnexpectedMediaType { .. }
            | Error::NoWasmLayer { .. }
            | Error::TooManyWasmLayers { .. }
            | Error::NoWasmPlatform { .. } => {
                "push the module with `mod-wasm push FILE.wasm oci://…` (CNCF Wasm artifact layout)".to_string()
            }
            Error::NotCached { .. } => "run `mod-wasm pull` while the registry is reachable".to_string(),
            Error::LockWouldChange { .. } => {
                "run `mod-wasm pull` (or `mod-wasm pull --update`) and commit app.lock, or build without --locked".to_string()
            }
            Error::NotWasm { .. } => "push a compiled .wasm file (it starts with the bytes \\0asm)".to_string(),
            Error::Credentials { .. } => {
                "check $DOCKER_CONFIG/config.json (or ~/.docker/config.json) and its credential helper".to_string()
            }
            Error::ManifestMismatch { .. } => {
                "the registry served a manifest that is not the one its digest names: tampered or corrupt; nothing was deployed".to_string()
            }
            Error::NotABundle { .. } => {
                "push bundles with `mod-wasm push --bundle DIR oci://…` (one titled application/wasm layer per module, bundle.lock as the config)".to_string()
            }
            Error::Unsigned { .. } => {
                "sign the digest first: mod-wasm sign --key KEY.pem oci://REGISTRY/REPO@sha256:…".to_string()
            }
            Error::BadSignature { .. } => {
                "the artifact was signed with another key, or the signature does not cover this digest; nothing was deployed".to_string()
            }
            Error::TooLarge { limit, .. } if *limit == crate::bounds::MAX_MANIFEST_SIZE => {
                "manifests, indexes, signature manifests and bundle configs are read up to 4 MiB (as containerd and docker read them): the registry served something else; nothing was cached".to_string()
            }
            Error::TooLarge { .. } => {
                "a module layer is at most the module-size limit: raise it with engine { module-limits module-size=… } in the manifest if the module is meant to be this large; nothing was downloaded".to_string()
            }
            Error::Timeout { after, .. } => format!(
                "each registry operation has {} in all; raise it with --registry-timeout DURATION or `registry timeout=\"10mi\"` in the manifest, or check the registry and the network",
                crate::bounds::duration_text(*after)
            ),
            Error::Key { .. } => {
                "a PEM ECDSA P-256 key: PKCS#8 private key (openssl pkcs8 -topk8 -nocrypt), SPKI public key (BEGIN PUBLIC KEY)".to_string()
            }
            _ => return None,
        })
    }

    /// A few words for a label on the source of the failing reference.
    pub fn label(&self) -> &'static str {
        match self {
            Error::InvalidReference { .. } => "not an OCI reference",
            Error::Unreachable { .. } => "registry unreachable",
            Error::Unauthorized { .. } => "access refused",
            Error::NotFound { .. } => "not found on the registry",
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => {
                "content does not match its digest"
            }
            Error::UnexpectedMediaType { .. } => "not a Wasm artifact",
            Error::NoWasmLayer { .. } => "no Wasm layer",
            Error::TooManyWasmLayers { .. } => "several Wasm layers",
            Error::NoWasmPlatform { .. } => "no wasi/wasm entry in the index",
            Error::NotCached { .. } => "not in the cache",
            Error::LockWouldChange { .. } => "app.lock would change",
            Error::Lock { .. } => "lock file problem",
            Error::Credentials { .. } => "credentials problem",
            Error::NotWasm { .. } => "not WebAssembly",
            Error::Registry { .. } => "registry error",
            Error::ManifestMismatch { .. } => "manifest does not match its digest",
            Error::NotABundle { .. } => "not a mod-wasm bundle",
            Error::Unsigned { .. } => "not signed",
            Error::BadSignature { .. } => "signature does not verify",
            Error::Key { .. } => "key problem",
            Error::TooLarge { .. } => "too large",
            Error::Timeout { .. } => "registry too slow",
            Error::Cancelled { .. } => "stopped",
            Error::Io { .. } => "file error",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant, so a new one cannot slip past the naming rule.
    fn one_of_each() -> Vec<Error> {
        let s = || String::from("x");
        vec![
            Error::InvalidReference {
                input: s(),
                reason: s(),
            },
            Error::Unreachable {
                registry: s(),
                detail: s(),
            },
            Error::Unauthorized {
                registry: s(),
                repository: s(),
                status: 401,
                detail: s(),
            },
            Error::NotFound {
                what: "blob",
                reference: s(),
            },
            Error::DigestMismatch {
                what: s(),
                expected: s(),
                actual: s(),
            },
            Error::SizeMismatch {
                what: s(),
                expected: 1,
                actual: 2,
            },
            Error::UnexpectedMediaType {
                kind: "config",
                found: s(),
                accepted: vec![],
                reference: s(),
            },
            Error::NoWasmLayer {
                reference: s(),
                found: vec![],
            },
            Error::TooManyWasmLayers {
                reference: s(),
                found: vec![],
            },
            Error::NoWasmPlatform {
                reference: s(),
                found: vec![],
            },
            Error::NotCached {
                reference: s(),
                detail: s(),
            },
            Error::LockWouldChange {
                module: s(),
                reason: s(),
            },
            Error::Lock {
                path: PathBuf::from("x"),
                detail: s(),
            },
            Error::Credentials {
                registry: s(),
                detail: s(),
            },
            Error::NotWasm {
                path: PathBuf::from("x"),
                detail: s(),
            },
            Error::Registry {
                registry: s(),
                detail: s(),
            },
            Error::ManifestMismatch {
                reference: s(),
                expected: s(),
                actual: s(),
            },
            Error::NotABundle {
                reference: s(),
                detail: s(),
            },
            Error::Unsigned {
                reference: s(),
                signature: s(),
            },
            Error::BadSignature {
                reference: s(),
                key: s(),
                reasons: vec![],
            },
            Error::Key {
                path: PathBuf::from("x"),
                detail: s(),
            },
            Error::TooLarge {
                registry: s(),
                what: s(),
                limit: 1,
                declared: None,
            },
            Error::Timeout {
                registry: s(),
                operation: s(),
                after: std::time::Duration::from_secs(1),
            },
            Error::Cancelled {
                registry: s(),
                operation: s(),
            },
            Error::io("x", std::io::Error::other("x")),
        ]
    }

    #[test]
    fn codes_are_kebab_case_and_distinct() {
        let codes: Vec<&str> = one_of_each().iter().map(Error::code).collect();
        for code in &codes {
            let rest = code
                .strip_prefix("oci::")
                .unwrap_or_else(|| panic!("{code}"));
            assert!(
                !rest.is_empty()
                    && !rest.starts_with('-')
                    && !rest.ends_with('-')
                    && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code} is not oci::kebab-case"
            );
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
    }
}

//! Where a module's bytes come from: a local file (plain path or `file:` URL) or an OCI
//! registry (`oci://REGISTRY/REPO:TAG` or `…@sha256:DIGEST`).
//!
//! Local files are resolved here; OCI references are parsed by the `mod_wasm_oci` crate's own
//! parser (the one grammar `check`, `build` and `pull` share) and handed to [`oci::resolve_all`],
//! the one seam between the manifest/build code and registry support.

pub mod local;
pub mod oci;
pub mod regular;

use std::path::{Path, PathBuf};

use mod_wasm_oci::OciReference;
use serde::Serialize;

/// A module source as written in the manifest, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// A local file, absolute (relative paths are already joined to the manifest's folder).
    Path(PathBuf),
    /// An OCI reference, e.g. `oci://registry.example/wasm/python:3.11`.
    Oci(OciReference),
}

/// A module source that has been fetched (if need be), read and hashed.
#[derive(Clone, Debug, Serialize)]
pub struct ResolvedSource {
    /// Local path of the verified module bytes (the file itself, or a cached OCI blob).
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the module bytes.
    pub sha256: String,
    /// What to record in `bundle.lock` as the pinned origin: the absolute path for files,
    /// `oci://REGISTRY/REPO@sha256:MANIFEST_DIGEST` for OCI modules.
    pub pinned: String,
    /// Core module or component, when known (local files: from checking them; OCI modules: once
    /// compiled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<local::WasmKind>,
}

/// Why a `source=` value could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Empty string.
    #[error("the module source is empty")]
    Empty,
    /// A URL scheme we do not fetch.
    #[error("unsupported source scheme `{0}:`")]
    UnsupportedScheme(String),
    /// A malformed `file:` URL.
    #[error("`{0}` is not a usable file: URL")]
    BadFileUrl(String),
    /// A malformed `oci://` reference: the OCI crate's own message.
    #[error("{0}")]
    BadOciReference(String),
}

impl ModuleSource {
    /// Parses a `source=` value; relative paths are taken under `base` (the manifest's folder).
    pub fn parse(text: &str, base: &Path) -> Result<ModuleSource, SourceError> {
        if text.is_empty() {
            return Err(SourceError::Empty);
        }
        if text.starts_with(mod_wasm_oci::SCHEME) {
            return OciReference::parse(text)
                .map(ModuleSource::Oci)
                .map_err(|e| SourceError::BadOciReference(e.to_string()));
        }
        if let Some(rest) = text.strip_prefix("file:") {
            return parse_file_url(rest, text, base).map(ModuleSource::Path);
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(SourceError::UnsupportedScheme(scheme.to_string()));
        }
        Ok(ModuleSource::Path(join_clean(base, text)))
    }

    /// `file` or `oci`, for messages and the lock.
    pub fn kind(&self) -> &'static str {
        match self {
            ModuleSource::Path(_) => "file",
            ModuleSource::Oci(_) => "oci",
        }
    }
}

fn parse_file_url(rest: &str, whole: &str, base: &Path) -> Result<PathBuf, SourceError> {
    let path = if let Some(after) = rest.strip_prefix("//") {
        // file://HOST/PATH: only an empty host or localhost is local.
        let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
        if !(host.is_empty() || host == "localhost") || path.is_empty() {
            return Err(SourceError::BadFileUrl(whole.to_string()));
        }
        percent_decode(path).ok_or_else(|| SourceError::BadFileUrl(whole.to_string()))?
    } else {
        percent_decode(rest).ok_or_else(|| SourceError::BadFileUrl(whole.to_string()))?
    };
    if path.is_empty() {
        return Err(SourceError::BadFileUrl(whole.to_string()));
    }
    Ok(join_clean(base, path))
}

/// `base` joined with `path` (kept as is when absolute), with `.` and `..` resolved lexically,
/// so paths in the bundle and lock read `/repo/build/x.wasm`, not `/repo/samples/a/../../build/x.wasm`.
pub fn join_clean(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in base.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let base = Path::new("/app");
        assert_eq!(
            ModuleSource::parse("build/a.wasm", base).unwrap(),
            ModuleSource::Path("/app/build/a.wasm".into())
        );
        assert_eq!(
            ModuleSource::parse("/abs/a.wasm", base).unwrap(),
            ModuleSource::Path("/abs/a.wasm".into())
        );
        assert_eq!(
            ModuleSource::parse("file:///srv/my%20mod.wasm", base).unwrap(),
            ModuleSource::Path("/srv/my mod.wasm".into())
        );
        assert_eq!(
            ModuleSource::parse("file:rel.wasm", base).unwrap(),
            ModuleSource::Path("/app/rel.wasm".into())
        );
        assert_eq!(
            ModuleSource::parse("oci://reg.example:5000/wasm/py:3.11", base).unwrap(),
            ModuleSource::Oci(OciReference::parse("oci://reg.example:5000/wasm/py:3.11").unwrap())
        );
        let pinned = format!("oci://reg.example/wasm/py@sha256:{}", "a".repeat(64));
        assert!(matches!(
            ModuleSource::parse(&pinned, base),
            Ok(ModuleSource::Oci(_))
        ));
    }

    #[test]
    fn joins_and_cleans_paths() {
        let base = Path::new("/repo/samples/echo");
        assert_eq!(
            join_clean(base, "../../build/a.wasm"),
            PathBuf::from("/repo/build/a.wasm")
        );
        assert_eq!(
            join_clean(base, "./data/."),
            PathBuf::from("/repo/samples/echo/data")
        );
        assert_eq!(join_clean(base, "/tmp"), PathBuf::from("/tmp"));
    }

    #[test]
    fn refuses_bad_spellings() {
        let base = Path::new("/app");
        assert_eq!(ModuleSource::parse("", base), Err(SourceError::Empty));
        assert!(matches!(
            ModuleSource::parse("https://x/a.wasm", base),
            Err(SourceError::UnsupportedScheme(s)) if s == "https"
        ));
        assert!(ModuleSource::parse("file://remote/a.wasm", base).is_err());
        assert!(ModuleSource::parse("oci://justaname", base).is_err());
        assert!(ModuleSource::parse("oci://reg/repo@sha256:abc", base).is_err());
        // The OCI crate's grammar, word for word: what `build` would say, `check` says.
        let bad = "oci://foo/Repo:1";
        assert_eq!(
            ModuleSource::parse(bad, base),
            Err(SourceError::BadOciReference(
                OciReference::parse(bad).unwrap_err().to_string()
            ))
        );
    }
}

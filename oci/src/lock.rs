//! The lock file, `app.lock` beside the manifest: for every OCI module the reference it was
//! resolved from and what that resolved to (manifest digest, Wasm layer digest, size, media
//! type). Builds use it so a tag that moves on the registry does not change a locked build.
//! Written atomically (temp file + rename), in a stable order, so it diffs well in review.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The lock file's name, beside the manifest.
pub const LOCK_FILE_NAME: &str = "app.lock";
const VERSION: u32 = 1;
const HEADER: &str = "# app.lock: written by `mod-wasm pull`, read by `mod-wasm build`.\n\
# Pins every OCI module to a manifest and layer digest. Commit it; do not edit it by hand.\n\n";

/// One module's pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockEntry {
    /// Module name, as in the manifest.
    pub name: String,
    /// The `oci://` reference as resolved (canonical form, tag included).
    pub reference: String,
    /// The tag the reference named, if any, for readers of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Digest of the image manifest resolved (after any index).
    pub manifest_digest: Digest,
    /// Digest of the Wasm layer: the module's bytes.
    pub layer_digest: Digest,
    /// Size of the Wasm layer in bytes.
    pub size: u64,
    /// Media type of the Wasm layer.
    pub media_type: String,
}

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    version: u32,
    /// Entries, sorted by module name.
    #[serde(default, rename = "module")]
    pub modules: Vec<LockEntry>,
}

impl LockFile {
    /// An empty lock.
    pub fn new() -> Self {
        LockFile {
            version: VERSION,
            modules: Vec::new(),
        }
    }

    /// Where the lock for `manifest` lives: `app.lock` in the same folder.
    pub fn path_for_manifest(manifest: &Path) -> PathBuf {
        manifest
            .parent()
            .map(|p| p.join(LOCK_FILE_NAME))
            .unwrap_or_else(|| PathBuf::from(LOCK_FILE_NAME))
    }

    /// Reads the lock at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(&text).map(Some).map_err(|detail| Error::Lock {
            path: path.to_path_buf(),
            detail,
        })
    }

    /// Parses lock file text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let lock: LockFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if lock.version != VERSION {
            return Err(format!(
                "lock file version {} is not supported (expected {VERSION})",
                lock.version
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for m in &lock.modules {
            if !names.insert(&m.name) {
                return Err(format!("module `{}` appears twice", m.name));
            }
        }
        Ok(lock)
    }

    /// The text written to disk.
    pub fn to_text(&self) -> String {
        let mut sorted = self.clone();
        sorted.version = VERSION;
        sorted.modules.sort_by(|a, b| a.name.cmp(&b.name));
        format!(
            "{HEADER}{}",
            toml::to_string(&sorted).expect("lock serialises")
        )
    }

    /// Writes atomically: a temporary file in the same folder, renamed over `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".app.lock-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes())
            .map_err(|e| Error::io(tmp.path().to_path_buf(), e))?;
        crate::cache::set_readable(&tmp, path)?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }

    /// The entry for module `name`.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Adds or replaces the entry for `entry.name`.
    pub fn upsert(&mut self, entry: LockEntry) {
        match self.modules.iter_mut().find(|m| m.name == entry.name) {
            Some(slot) => *slot = entry,
            None => self.modules.push(entry),
        }
        self.modules.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Keeps only the modules in `names`; returns the names dropped.
    pub fn retain_modules(&mut self, names: &[&str]) -> Vec<String> {
        let dropped = self
            .modules
            .iter()
            .filter(|m| !names.contains(&m.name.as_str()))
            .map(|m| m.name.clone())
            .collect();
        self.modules.retain(|m| names.contains(&m.name.as_str()));
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> LockEntry {
        LockEntry {
            name: name.to_string(),
            reference: format!("oci://127.0.0.1:5000/wasm/{name}:v1"),
            tag: Some("v1".to_string()),
            manifest_digest: Digest::of(name.as_bytes()),
            layer_digest: Digest::of(b"layer"),
            size: 5,
            media_type: "application/wasm".to_string(),
        }
    }

    #[test]
    fn round_trip_is_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        assert!(LockFile::load(&path).unwrap().is_none());
        let mut lock = LockFile::new();
        lock.upsert(entry("zeta"));
        lock.upsert(entry("alpha"));
        lock.write(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# app.lock"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(text.find("alpha").unwrap() < text.find("zeta").unwrap());
        assert!(text.contains("manifest-digest = \"sha256:"), "{text}");
        let back = LockFile::load(&path).unwrap().unwrap();
        assert_eq!(back.modules, lock.modules);
        assert_eq!(back.to_text(), text);
    }

    #[test]
    fn rejects_duplicates_and_bad_digests() {
        let mut lock = LockFile::new();
        lock.modules.push(entry("a"));
        lock.modules.push(entry("a"));
        assert!(
            LockFile::parse(&lock.to_text())
                .unwrap_err()
                .contains("twice")
        );
        let bad = LockFile::new().to_text()
            + "[[module]]\nname='a'\nreference='oci://r.example/a:1'\nmanifest-digest='sha256:zz'\nlayer-digest='sha256:zz'\nsize=1\nmedia-type='application/wasm'\n";
        assert!(LockFile::parse(&bad).is_err());
    }

    #[test]
    fn lock_path_is_beside_the_manifest() {
        assert_eq!(
            LockFile::path_for_manifest(Path::new("samples/x/app.kdl")),
            Path::new("samples/x/app.lock")
        );
    }
}

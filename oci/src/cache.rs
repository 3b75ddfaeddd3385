//! The content-addressed blob cache: `$XDG_CACHE_HOME/mod-wasm/blobs/sha256/<hex>`.
//!
//! The cache only ever gains verified content: every blob is written to a temporary file in the
//! cache's own `tmp/` folder (same filesystem), hashed while it is written, and renamed into
//! place only when its digest matches the name it will have. A rename is atomic, so two
//! processes filling the cache at once each see either no file or a complete one; when both
//! write the same blob the second rename replaces identical bytes. Reads re-verify the content,
//! and a blob that no longer matches its name (disk corruption, a hand edit) is removed.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// The blob cache rooted at one folder.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (the folder that holds `blobs/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    /// The default root: `$XDG_CACHE_HOME/mod-wasm`, else `$HOME/.cache/mod-wasm`.
    pub fn default_root() -> Result<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .ok_or_else(|| {
                Error::io(
                    "$XDG_CACHE_HOME",
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "neither XDG_CACHE_HOME nor HOME is set",
                    ),
                )
            })?;
        Ok(base.join("mod-wasm"))
    }

    /// The cache at its default root.
    pub fn open_default() -> Result<Self> {
        Ok(Cache::new(Cache::default_root()?))
    }

    /// The folder holding `blobs/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob named `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The path of the cached blob, after checking its content still matches `digest`;
    /// `None` when absent (a corrupt blob is removed and reported absent).
    pub fn get(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        let path = self.blob_path(digest);
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hasher.finish() != *digest {
            // Not what its name says: drop it so the next online pull replaces it.
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(path))
    }

    /// The cached blob's bytes, verified; `None` when absent.
    pub fn read(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        if Digest::of(&bytes) != *digest {
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` under `digest` after checking they match it. `what` names the content
    /// in a mismatch error.
    pub fn insert(&self, digest: &Digest, bytes: &[u8], what: &str) -> Result<PathBuf> {
        let mut w = self.writer(digest, what)?;
        w.write(bytes)?;
        w.commit()
    }

    /// A writer for a blob that arrives in pieces.
    pub(crate) fn writer(&self, digest: &Digest, what: &str) -> Result<BlobWriter> {
        self.writer_sized(digest, None, what)
    }

    /// A writer that also refuses content longer or shorter than `size` bytes.
    pub(crate) fn writer_sized(
        &self,
        digest: &Digest,
        size: Option<u64>,
        what: &str,
    ) -> Result<BlobWriter> {
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| Error::io(&tmp_dir, e))?;
        Ok(BlobWriter {
            tmp,
            hasher: Hasher::default(),
            written: 0,
            expected: digest.clone(),
            size,
            path: self.blob_path(digest),
            what: what.to_string(),
        })
    }
}

/// A blob being written: hashed as it goes, renamed into the cache only if it verifies.
/// Dropping it without `commit` deletes the temporary file.
pub(crate) struct BlobWriter {
    tmp: NamedTempFile,
    hasher: Hasher,
    written: u64,
    expected: Digest,
    size: Option<u64>,
    path: PathBuf,
    what: String,
}

impl BlobWriter {
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        if let Some(size) = self.size
            && self.written > size
        {
            // Stop a runaway download early: it cannot match its descriptor.
            return Err(Error::SizeMismatch {
                what: self.what.clone(),
                expected: size,
                actual: self.written,
            });
        }
        let path = self.tmp.path().to_path_buf();
        self.tmp.write_all(bytes).map_err(|e| Error::io(path, e))
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest and renames the blob into place.
    pub(crate) fn commit(self) -> Result<PathBuf> {
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(Error::DigestMismatch {
                what: self.what,
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        if let Some(size) = self.size
            && size != self.written
        {
            return Err(Error::SizeMismatch {
                what: self.what,
                expected: size,
                actual: self.written,
            });
        }
        let tmp_path = self.tmp.path().to_path_buf();
        // Temporary files are created 0600; cached modules are shared (e.g. copied into a
        // bundle that Apache's unprivileged children read).
        set_readable(&self.tmp, &tmp_path)?;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(&tmp_path, e))?;
        let dir = self.path.parent().expect("blob path has a parent");
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        Ok(self.path)
    }
}

/// Makes a temporary file `rw-r--r--` before it is renamed into place.
pub(crate) fn set_readable(tmp: &NamedTempFile, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_and_refuse_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let d = Digest::of(b"wasm");
        assert!(cache.get(&d).unwrap().is_none());
        let p = cache.insert(&d, b"wasm", "test blob").unwrap();
        assert_eq!(p, cache.blob_path(&d));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(cache.get(&d).unwrap(), Some(p.clone()));
        assert_eq!(cache.read(&d).unwrap().unwrap(), b"wasm");

        let other = Digest::of(b"other");
        let err = cache.insert(&other, b"wasm", "test blob").unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert!(
            !cache.blob_path(&other).exists(),
            "a mismatching blob must never land in the cache"
        );
        let leftovers = fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert_eq!(leftovers, 0, "temporary files are removed");

        // A blob corrupted on disk is reported absent and removed.
        fs::write(&p, b"evil").unwrap();
        assert!(cache.get(&d).unwrap().is_none());
        assert!(!p.exists());
    }

    #[test]
    fn size_guard_stops_oversized_and_short_content() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let d = Digest::of(b"abcdef");
        let mut w = cache.writer_sized(&d, Some(3), "blob").unwrap();
        assert!(matches!(
            w.write(b"abcdef"),
            Err(Error::SizeMismatch { expected: 3, .. })
        ));
        let mut w = cache.writer_sized(&d, Some(10), "blob").unwrap();
        w.write(b"abcdef").unwrap();
        assert!(matches!(
            w.commit(),
            Err(Error::SizeMismatch {
                expected: 10,
                actual: 6,
                ..
            })
        ));
        assert!(!cache.blob_path(&d).exists());
        let mut w = cache.writer_sized(&d, Some(6), "blob").unwrap();
        w.write(b"abcdef").unwrap();
        assert!(w.commit().is_ok());
    }

    #[test]
    fn concurrent_writers_of_one_blob_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let data = vec![7u8; 1 << 20];
        let d = Digest::of(&data);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut w = cache.writer(&d, "blob").unwrap();
                    for chunk in data.chunks(4096) {
                        w.write(chunk).unwrap();
                    }
                    w.commit().unwrap();
                });
            }
        });
        assert_eq!(cache.read(&d).unwrap().unwrap(), data);
    }
}

//! The CLI's own cache of compiled code: the only place a build takes a `.cwasm` it did not
//! compile itself (never the output folder, which anyone who can write the bundle controls).
//!
//! Layout: `ROOT/<engine compatibility hash>/<wasm sha256>.cwasm` plus its sidecar
//! (`.cwasm.meta`). `ROOT` is `$MOD_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/mod-wasm/compiled`,
//! else `~/.cache/mod-wasm/compiled`. Folders are created `0700`; the cache is used only when
//! its folders and files belong to this user and nobody else can write them, and every entry
//! is verified against its sidecar and this engine before use. Entries are written atomically
//! (a temporary file renamed into place, the sidecar last).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use wasm_runtime::precompiled::Sidecar;
use wasmtime::Engine;

use crate::sources::regular::read_regular;

/// Environment variable naming the cache root.
pub const CACHE_DIR_ENV: &str = "MOD_WASM_CACHE_DIR";

/// Largest `.cwasm` read back from the cache.
const MAX_CWASM: u64 = 4 << 30;

/// The cache folder for one engine compatibility hash.
#[derive(Clone, Debug)]
pub struct CompiledCache {
    dir: PathBuf,
}

/// The cache root: `$MOD_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/mod-wasm/compiled`, else
/// `$HOME/.cache/mod-wasm/compiled`; `None` when none of these is set.
pub fn default_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    mod_wasm_oci::cache::Cache::default_root()
        .ok()
        .map(|root| root.join("compiled"))
}

/// Why `path` cannot be trusted to hold code we compiled, if it cannot.
fn untrusted(path: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Some(format!("cannot inspect {}: {e}", path.display())),
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_symlink() {
        Some(format!("{} is a symbolic link", path.display()))
    } else if meta.uid() != me {
        Some(format!("{} belongs to another user", path.display()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!("{} is writable by group or others", path.display()))
    } else {
        None
    }
}

impl CompiledCache {
    /// Opens (creating it) the folder of `root` for `compatibility`; the error says why the
    /// cache cannot be used (the build then compiles everything and caches nothing).
    pub fn open(root: &Path, compatibility: &str) -> Result<CompiledCache, String> {
        let dir = root.join(compatibility);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if let Some(why) = untrusted(root).or_else(|| untrusted(&dir)) {
            return Err(why);
        }
        Ok(CompiledCache { dir })
    }

    /// The folder entries are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn cwasm_path(&self, wasm_sha256: &str) -> PathBuf {
        self.dir.join(format!("{wasm_sha256}.cwasm"))
    }

    /// The cached image of the module whose `.wasm` has `wasm_sha256`, verified against its
    /// sidecar and `engine`; a bad entry is removed and reported absent.
    pub fn get(&self, engine: &Engine, wasm_sha256: &str) -> Option<(Vec<u8>, Sidecar)> {
        let path = self.cwasm_path(wasm_sha256);
        if !path.exists() {
            return None;
        }
        let found = (|| {
            if untrusted(&path).is_some() || untrusted(&Sidecar::path_for(&path)).is_some() {
                return None;
            }
            let meta = Sidecar::read(&path).ok()?;
            let image = read_regular(&path, MAX_CWASM).ok()?;
            let ours = meta.wasm_sha256 == wasm_sha256
                && meta.runtime_version == wasm_runtime::RUNTIME_VERSION
                && meta.verify(engine, &image).is_ok();
            ours.then_some((image, meta))
        })();
        if found.is_none() {
            let _ = std::fs::remove_file(Sidecar::path_for(&path));
            let _ = std::fs::remove_file(&path);
        }
        found
    }

    /// Stores `image` (whose sidecar is `meta`) for `meta.wasm_sha256`, atomically.
    pub fn put(&self, image: &[u8], meta: &Sidecar) -> std::io::Result<()> {
        let path = self.cwasm_path(&meta.wasm_sha256);
        meta.with_source(None)
            .write_beside(&path, image, |p, bytes| self.write_atomic(p, bytes))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_shared_or_foreign_folder_is_not_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        assert!(CompiledCache::open(&root, "abc").is_ok());
        assert_eq!(
            std::fs::metadata(root.join("abc")).unwrap().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompiledCache::open(&root, "abc").unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
    }
}

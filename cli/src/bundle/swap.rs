//! Putting a freshly written bundle folder in place of the previous one.
//!
//! The new bundle is written into a sibling temporary folder; only when it is complete does it
//! replace the old one: with `renameat2(RENAME_EXCHANGE)` (atomic) where the kernel allows it,
//! else by two renames. A build that fails before the swap leaves the old bundle untouched.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A sibling temporary folder for building `target`, removed on drop unless committed.
pub struct Staging {
    path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates `.NAME.tmp-PID` next to `target`.
    pub fn new(target: &Path) -> io::Result<Staging> {
        let parent = target.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into());
        remove_abandoned(parent, &name);
        let path = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        // The bundle folder is 0755 whatever the umask (see `files`).
        super::files::create_dir(&path)?;
        Ok(Staging {
            path,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the target by the staged folder.
    pub fn commit(mut self) -> io::Result<()> {
        if self.target.exists() {
            if exchange(&self.path, &self.target).is_ok() {
                // `self.path` now holds the old bundle; drop removes it.
                self.committed = false;
                return Ok(());
            }
            let old = self.path.with_extension("old");
            std::fs::rename(&self.target, &old)?;
            std::fs::rename(&self.path, &self.target)?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.path, &self.target)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `.NAME.tmp-PID` folders left by builds that were killed (their PID is gone).
fn remove_abandoned(parent: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = pid.strip_suffix(".old").unwrap_or(pid);
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not keep them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("bundle");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old"), "1").unwrap();

        let staging = Staging::new(&target).unwrap();
        std::fs::write(staging.path().join("new"), "2").unwrap();
        drop(staging);
        assert!(
            target.join("old").exists(),
            "an abandoned build leaves the old bundle"
        );

        let staging = Staging::new(&target).unwrap();
        std::fs::write(staging.path().join("new"), "2").unwrap();
        staging.commit().unwrap();
        assert!(target.join("new").exists());
        assert!(!target.join("old").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging folder left behind");

        // A killed build's staging folder (its process is gone) is cleaned up by the next one.
        let stale = dir.path().join(".bundle.tmp-4000000000");
        std::fs::create_dir(&stale).unwrap();
        let staging = Staging::new(&target).unwrap();
        assert!(!stale.exists());
        drop(staging);
    }
}

//! Mapped folders (`WasmDir`, `WasmMapDir`): opened once, never re-resolved on the host.
//!
//! A folder is opened at load time, one path component at a time with `O_NOFOLLOW`, so a
//! configured path that passes through a symlink is refused, and the handle is kept. Every
//! request's WASI context gets that same directory — reopened through `/proc/self/fd/N`, which
//! names the open directory itself, not a path — so nothing a module does (replace a folder by a
//! symlink, rename it, remove it) changes what another mapping, another route or a later request
//! sees. A read-only mapping is enforced by WASI's permissions.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path};

/// A host folder opened once for mapping into modules.
#[derive(Debug)]
pub struct MappedDir {
    fd: OwnedFd,
    host: String,
    read_only: bool,
}

impl MappedDir {
    /// Opens `host` (an absolute path with no symlink in it) as a directory handle.
    pub fn open(host: &str, read_only: bool) -> Result<MappedDir, String> {
        let fd = open_beneath_root(Path::new(host))?;
        Ok(MappedDir {
            fd,
            host: host.to_string(),
            read_only,
        })
    }

    /// The host path as configured.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether modules may only read it.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// A path that opens exactly this directory, whatever has happened to `host` since.
    pub fn handle_path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }
}

/// Opens `path` from `/`, one component at a time, refusing `..`, relative paths, symlinks and
/// anything that is not a directory.
fn open_beneath_root(path: &Path) -> Result<OwnedFd, String> {
    if !path.is_absolute() {
        return Err(format!("`{}` is not an absolute path", path.display()));
    }
    let mut dir = open_at(libc::AT_FDCWD, "/", path)?;
    let mut walked = String::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir => {
                return Err(format!("`{}` contains `..`", path.display()));
            }
            Component::Normal(name) => {
                let name = name
                    .to_str()
                    .ok_or_else(|| format!("`{}` is not valid UTF-8", path.display()))?;
                walked.push('/');
                walked.push_str(name);
                dir = open_at(dir.as_raw_fd(), name, path).map_err(|e| {
                    if is_symlink(&walked) {
                        format!(
                            "`{}` passes through the symlink `{walked}`: mapped folders must be \
                             named by their real path (symlinks are refused so a module cannot \
                             redirect one)",
                            path.display()
                        )
                    } else {
                        e
                    }
                })?;
            }
            Component::Prefix(_) => unreachable!("no path prefixes on unix"),
        }
    }
    Ok(dir)
}

fn is_symlink(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn open_at(dir: RawFd, name: &str, whole: &Path) -> Result<OwnedFd, String> {
    let c_name = CString::new(name).map_err(|_| format!("`{}` holds a NUL", whole.display()))?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory fd (or AT_FDCWD) and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir, c_name.as_ptr(), flags) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!("cannot open folder `{}`: {err}", whole.display()));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_real_folders_and_refuses_symlinks_and_files() {
        let base = std::env::temp_dir().join(format!("mapped-dir-{}", std::process::id()));
        let real = base.join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(base.join("file"), b"x").unwrap();
        let link = base.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let dir = MappedDir::open(real.to_str().unwrap(), true).unwrap();
        assert!(dir.read_only());
        assert!(std::fs::metadata(dir.handle_path()).unwrap().is_dir());

        let err = MappedDir::open(link.to_str().unwrap(), false).unwrap_err();
        assert!(err.contains("symlink"), "{err}");
        assert!(MappedDir::open(base.join("file").to_str().unwrap(), false).is_err());
        assert!(MappedDir::open("relative/dir", false).is_err());
        let dotdot = format!("{}/real/..", base.display());
        assert!(MappedDir::open(&dotdot, false).unwrap_err().contains(".."));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_handle_keeps_the_folder_it_opened() {
        let base = std::env::temp_dir().join(format!("mapped-swap-{}", std::process::id()));
        let a = base.join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("marker"), b"original").unwrap();
        let dir = MappedDir::open(a.to_str().unwrap(), false).unwrap();
        // Swap the path for another folder: the handle still names the original one.
        std::fs::rename(&a, base.join("moved")).unwrap();
        std::fs::create_dir(&a).unwrap();
        let marker = std::fs::read(format!("{}/marker", dir.handle_path())).unwrap();
        assert_eq!(marker, b"original");
        std::fs::remove_dir_all(&base).unwrap();
    }
}

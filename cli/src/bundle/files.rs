//! Writing into a bundle with fixed modes, whatever the umask: files `0644`, folders `0755`.
//!
//! The server refuses a `.cwasm` whose file, sidecar or folder is writable by anyone but its
//! owner (native code nobody vouched for), and its children must be able to read everything.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file in a bundle.
pub const FILE_MODE: u32 = 0o644;
/// Mode of every folder in a bundle.
pub const DIR_MODE: u32 = 0o755;

/// Creates `path` (and missing parents) and sets it to [`DIR_MODE`].
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    set_dir_mode(path)
}

/// Sets an existing folder to [`DIR_MODE`].
pub fn set_dir_mode(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

/// Writes `bytes` to a new (or truncated) file `path` with mode [`FILE_MODE`].
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    // The umask may have taken bits away (or the file existed): set the mode explicitly.
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Copies `src` to `dest` with mode [`FILE_MODE`] (not the source's mode, as `fs::copy` would).
pub fn copy_file(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::copy(src, dest)?;
    std::fs::set_permissions(dest, Permissions::from_mode(FILE_MODE))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn modes_do_not_follow_the_umask_or_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_dir(&sub).unwrap();
        assert_eq!(std::fs::metadata(&sub).unwrap().mode() & 0o7777, DIR_MODE);
        let src = dir.path().join("src");
        std::fs::write(&src, "x").unwrap();
        std::fs::set_permissions(&src, Permissions::from_mode(0o666)).unwrap();
        copy_file(&src, &sub.join("copy")).unwrap();
        write_file(&sub.join("new"), b"y").unwrap();
        for name in ["copy", "new"] {
            let mode = std::fs::metadata(sub.join(name)).unwrap().mode() & 0o7777;
            assert_eq!(mode, FILE_MODE, "{name}");
        }
    }
}

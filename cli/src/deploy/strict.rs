//! StrictModes for a deploy root: whoever can write the root, a folder above it, `releases/` or
//! the release `current` points at can point `current` at a `wasm.conf` of their own — which the
//! running Apache (root) includes at its next reload, logrotate's included. So before deploy,
//! rollback or a fleet staging writes anything there, each of them must be owned by root or by
//! the deploying user and writable by no one else; a root-owned sticky folder (such as `/tmp`)
//! is a safe folder above the root, since no one else can rename what is in it. The rule and its
//! walk (as written and as resolved) are the runtime's ([`wasm_runtime::safe_path`]), the same
//! the server applies to the `.cwasm` files it loads.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use wasm_runtime::safe_path::{Trust, check_trusted_path};

/// Checks the deploy root `root` before anything is written there. When it exists: it, every
/// folder above it, `releases/` and `current` (through to the release it points at). When it
/// does not exist yet: the nearest folder above it that exists, and every folder above that
/// (deploy creates the missing ones with mode 0755). `Err` names the path and the fix.
pub fn check_root(root: &Path) -> Result<(), String> {
    let mut existing = root;
    while std::fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => return Ok(()),
        }
    }
    if existing != root {
        return check_folder_above(existing);
    }
    check_trusted_path(existing, Trust::default())?;
    for part in ["releases", "current"] {
        let path = root.join(part);
        // A `current` whose release is gone is swapped by this deploy; its folder was checked.
        if std::fs::metadata(&path).is_ok() {
            check_trusted_path(&path, Trust::default())?;
        }
    }
    Ok(())
}

/// Checks `folder`, which the root will be made in: the same walk, except that `folder` (and
/// any folder right above it) may be a root-owned sticky folder (as `/tmp`), since it lies above
/// the root.
fn check_folder_above(folder: &Path) -> Result<(), String> {
    let mut here = folder;
    while std::fs::symlink_metadata(here)
        .is_ok_and(|m| m.is_dir() && m.mode() & STICKY != 0 && m.uid() == 0)
    {
        match here.parent() {
            Some(parent) => here = parent,
            None => return Ok(()),
        }
    }
    check_trusted_path(here, Trust::default())
}

/// The sticky bit: in such a folder, only an entry's owner (or root) may rename or remove it.
const STICKY: u32 = 0o1000;

/// How a refusal of [`check_root`] is explained.
pub const HELP: &str = "only root or the deploying user may own the deploy root, the folders above it, \
releases/ and the release `current` points at, and no one else may write them (a root-owned \
sticky folder such as /tmp is fine above the root): whoever can write there can point `current` \
at a wasm.conf of theirs, which Apache includes. Nothing was changed.";

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_root_its_folders_and_the_current_release_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // Missing: the folder it would be made in is checked, and may be a root-owned sticky
        // folder (as /tmp) when root runs this.
        assert_eq!(check_root(&root.join("a/b")), Ok(()));
        chmod(dir.path(), 0o1777);
        // SAFETY: geteuid has no preconditions.
        let as_root = unsafe { libc::geteuid() } == 0;
        assert_eq!(check_root(&root).is_ok(), as_root);
        chmod(dir.path(), 0o777);
        let err = check_root(&root).unwrap_err();
        assert!(
            err.contains(&format!("chmod go-w {}", dir.path().display())),
            "{err}"
        );
        chmod(dir.path(), 0o700);
        std::fs::create_dir_all(root.join("releases/r1")).unwrap();
        for p in [&root, &root.join("releases"), &root.join("releases/r1")] {
            chmod(p, 0o755);
        }
        std::os::unix::fs::symlink("releases/r1", root.join("current")).unwrap();
        assert_eq!(check_root(&root), Ok(()));
        for (path, mode) in [
            (root.clone(), 0o775),
            (root.join("releases"), 0o757),
            (root.join("releases/r1"), 0o775),
        ] {
            chmod(&path, mode);
            let err = check_root(&root).unwrap_err();
            assert!(
                err.contains(&format!("chmod go-w {}", path.display())),
                "{err}"
            );
            chmod(&path, 0o755);
        }
        // A dangling `current` is left to the deploy that replaces it.
        std::fs::remove_dir(root.join("releases/r1")).unwrap();
        assert_eq!(check_root(&root), Ok(()));
    }
}

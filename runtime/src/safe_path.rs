//! StrictModes for paths: whether a file or folder, and every folder above it, can be changed
//! only by those trusted with what it holds (root, or the user this process runs as).
//!
//! Whoever can write a folder can replace anything inside it, however strict the file's own mode:
//! a `.cwasm` at `/srv/app/modules/m.cwasm` is as trustworthy as the least protected of `/`,
//! `/srv`, `/srv/app` and `/srv/app/modules`. So every ancestor must be owned by root or by this
//! process's user, and writable by no one else — except a root-owned sticky folder such as
//! `/tmp`, where no one else can rename or remove an entry they do not own (the rule sshd, sudo
//! and systemd apply too). The path is checked as written (each component with `lstat`, so a
//! symlink's folder counts) and as resolved (so a symlink's target folders count).

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Who a checked path must be protected from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trust {
    /// The user requests run as (Apache's `User`), when it differs from this process's: nothing
    /// on the path may belong to it, since a module or any process of that user could change it.
    pub run_uid: Option<u32>,
}

/// Checks `path` and every folder above it. `Err` names the first offending path, why, and the
/// command that fixes it.
pub fn check_trusted_path(path: &Path, trust: Trust) -> Result<(), String> {
    let absolute = absolute(path)?;
    check_chain(&absolute, trust, false)?;
    let resolved = std::fs::canonicalize(&absolute)
        .map_err(|e| format!("cannot resolve {}: {e}", absolute.display()))?;
    if resolved != absolute {
        check_chain(&resolved, trust, true)?;
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        format!(
            "cannot tell the current folder to check {}: {e}",
            path.display()
        )
    })?;
    Ok(cwd.join(path))
}

/// Checks each prefix of `path`, from `/` down to `path` itself.
fn check_chain(path: &Path, trust: Trust, follow: bool) -> Result<(), String> {
    // SAFETY: always safe to call.
    let me = unsafe { libc::geteuid() };
    let mut prefix = PathBuf::new();
    let mut components = path.components().peekable();
    while let Some(component) = components.next() {
        match component {
            Component::CurDir => continue,
            Component::ParentDir => {
                prefix.pop();
                continue;
            }
            other => prefix.push(other.as_os_str()),
        }
        let is_last = components.peek().is_none();
        let meta = if follow {
            std::fs::metadata(&prefix)
        } else {
            std::fs::symlink_metadata(&prefix)
        }
        .map_err(|e| format!("cannot stat {}: {e}", prefix.display()))?;
        // A symlink's own mode and owner mean nothing; its folder was checked, its target is
        // checked on the resolved path.
        if meta.file_type().is_symlink() {
            continue;
        }
        check_one(&prefix, &meta, me, trust, is_last)?;
    }
    Ok(())
}

fn check_one(
    path: &Path,
    meta: &std::fs::Metadata,
    me: u32,
    trust: Trust,
    is_last: bool,
) -> Result<(), String> {
    let (mode, uid) = (meta.mode(), meta.uid());
    if trust.run_uid.is_some_and(|run| run == uid) {
        return Err(format!(
            "{} belongs to uid {uid}, the user requests run as, so a module could change it \
             (fix: chown root {})",
            path.display(),
            path.display()
        ));
    }
    if uid != 0 && uid != me {
        return Err(format!(
            "{} belongs to uid {uid}, neither root nor this process's user ({me}), who could \
             replace what it holds (fix: chown root {})",
            path.display(),
            path.display()
        ));
    }
    let shared_sticky = !is_last && meta.is_dir() && mode & STICKY != 0 && uid == 0;
    if mode & GROUP_OR_OTHER_WRITE != 0 && !shared_sticky {
        let who = if mode & 0o002 != 0 {
            "anyone"
        } else {
            "its group"
        };
        return Err(format!(
            "{} is writable by {who} (mode {:o}), who could replace what it holds \
             (fix: chmod go-w {})",
            path.display(),
            mode & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A private folder under the system's temporary folder (checked itself: /tmp is sticky).
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("safe-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        for p in [dir.clone(), dir.join("a"), dir.join("a/b")] {
            chmod(&p, 0o755);
        }
        std::fs::write(dir.join("a/b/m.cwasm"), b"x").unwrap();
        chmod(&dir.join("a/b/m.cwasm"), 0o644);
        dir
    }

    #[test]
    fn a_private_chain_under_a_sticky_tmp_is_trusted() {
        let dir = scratch("ok");
        assert_eq!(
            check_trusted_path(&dir.join("a/b/m.cwasm"), Trust::default()),
            Ok(())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_writable_ancestor_is_refused_with_the_fix() {
        let dir = scratch("anc");
        chmod(&dir.join("a"), 0o775);
        let err = check_trusted_path(&dir.join("a/b/m.cwasm"), Trust::default()).unwrap_err();
        let a = dir.join("a");
        assert!(
            err.contains(&format!("{} is writable by its group", a.display())),
            "{err}"
        );
        assert!(
            err.contains(&format!("chmod go-w {}", a.display())),
            "{err}"
        );
        // World-writable and sticky is fine only for a root-owned folder above the path, never
        // for the path itself.
        chmod(&dir.join("a"), 0o1777);
        let err = check_trusted_path(&dir.join("a/b/m.cwasm"), Trust::default());
        // SAFETY: always safe.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(err, Ok(()));
        } else {
            assert!(err.is_err());
        }
        let err = check_trusted_path(&dir.join("a"), Trust::default()).unwrap_err();
        assert!(err.contains("writable by anyone"), "{err}");
        chmod(&dir.join("a"), 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_into_a_writable_folder_is_refused() {
        let dir = scratch("link");
        std::fs::create_dir(dir.join("open")).unwrap();
        chmod(&dir.join("open"), 0o777);
        std::fs::write(dir.join("open/m.cwasm"), b"x").unwrap();
        chmod(&dir.join("open/m.cwasm"), 0o644);
        std::os::unix::fs::symlink(dir.join("open"), dir.join("a/b/via")).unwrap();
        let err = check_trusted_path(&dir.join("a/b/via/m.cwasm"), Trust::default()).unwrap_err();
        assert!(err.contains("open is writable by anyone"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_run_user_may_own_nothing_on_the_path() {
        let dir = scratch("run");
        let file = dir.join("a/b/m.cwasm");
        // As root, the file is given to another user; otherwise this user stands for it.
        // SAFETY: always safe.
        let run_uid = if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            65534
        } else {
            std::fs::metadata(&file).unwrap().uid()
        };
        let err = check_trusted_path(
            &file,
            Trust {
                run_uid: Some(run_uid),
            },
        )
        .unwrap_err();
        assert!(err.contains("the user requests run as"), "{err}");
        assert!(
            err.contains(&format!("chown root {}", file.display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

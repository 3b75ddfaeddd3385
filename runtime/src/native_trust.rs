//! Who may have written a `.cwasm`: precompiled code is native code, trusted only from files
//! that no one but their owner can change, as sshd's `StrictModes` trusts `authorized_keys`.
//!
//! A `.cwasm`, its sidecar and the folder holding them are refused when group or others may
//! write them, or when they belong to the user requests run as (Apache's `User`): a module
//! writing into a mapped folder, or any process of that user, could have put native code there.
//! A refused `.cwasm` is never executed; the loader compiles the `.wasm` instead.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::precompiled::Sidecar;

/// Checks the `.cwasm` at `cwasm`, its sidecar and its folder. `run_uid`: the uid requests run
/// as, when it differs from this process's.
pub fn check_native_code_trust(cwasm: &Path, run_uid: Option<u32>) -> Result<(), String> {
    let folder = cwasm.parent().unwrap_or_else(|| Path::new("."));
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    for path in [cwasm, &Sidecar::path_for(cwasm), folder] {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        let mode = meta.mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "{} is writable by {} (mode {:o}); native code is trusted only from files their \
                 owner alone can change",
                path.display(),
                if mode & 0o002 != 0 {
                    "anyone"
                } else {
                    "its group"
                },
                mode & 0o7777
            ));
        }
        if run_uid.is_some_and(|uid| uid == meta.uid()) {
            return Err(format!(
                "{} belongs to uid {}, the user requests run as, so a module could have written it",
                path.display(),
                meta.uid()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn refuses_writable_files_and_folders_and_the_run_user() {
        let dir = std::env::temp_dir().join(format!("native-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cwasm = dir.join("m.cwasm");
        std::fs::write(&cwasm, b"x").unwrap();
        std::fs::write(Sidecar::path_for(&cwasm), b"y").unwrap();
        for p in [&cwasm, &Sidecar::path_for(&cwasm)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert_eq!(check_native_code_trust(&cwasm, None), Ok(()));

        std::fs::set_permissions(&cwasm, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = check_native_code_trust(&cwasm, None).unwrap_err();
        assert!(err.contains("writable by anyone"), "{err}");
        std::fs::set_permissions(&cwasm, std::fs::Permissions::from_mode(0o644)).unwrap();

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let err = check_native_code_trust(&cwasm, None).unwrap_err();
        assert!(err.contains("its group"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

        let me = std::fs::metadata(&cwasm).unwrap().uid();
        let err = check_native_code_trust(&cwasm, Some(me)).unwrap_err();
        assert!(err.contains("the user requests run as"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

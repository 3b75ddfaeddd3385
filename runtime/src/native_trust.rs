//! Who may have written a `.cwasm`: precompiled code is native code, trusted only from files
//! that no one but their owner can change, as sshd's `StrictModes` trusts `authorized_keys`.
//!
//! A `.cwasm` and its sidecar are refused when they, or any folder above them, can be changed by
//! anyone but root and this process's user, or belong to the user requests run as (Apache's
//! `User`): a module writing into a mapped folder, or any process of that user, could have put
//! native code there. The rule, ancestors included, is [`crate::safe_path`]'s. A refused
//! `.cwasm` is never executed; the loader compiles the `.wasm` instead.

use std::path::Path;

use crate::precompiled::Sidecar;
use crate::safe_path::{Trust, check_trusted_path};

/// Checks the `.cwasm` at `cwasm`, its sidecar and every folder above them. `run_uid`: the uid
/// requests run as, when it differs from this process's.
pub fn check_native_code_trust(cwasm: &Path, run_uid: Option<u32>) -> Result<(), String> {
    let trust = Trust { run_uid };
    for path in [cwasm, &Sidecar::path_for(cwasm)] {
        check_trusted_path(path, trust).map_err(|why| {
            format!("{why}; native code is trusted only from files no one else can change")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

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

//! Local module files: read (a regular file, within the module-size limit), recognise as a
//! WebAssembly core module, check against the compile limits, hash.

use std::path::Path;

use wasm_runtime::digest::sha256_hex;
use wasm_runtime::module_limits::{Limit, LimitError, ModuleLimits, check_module};

use super::ResolvedSource;
use super::regular::{RegularError, read_regular};

/// Why a local module file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No such file.
    #[error("module file `{0}` does not exist")]
    Missing(String),
    /// It exists but cannot be read.
    #[error("cannot read module file `{path}`: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It is a FIFO, a device, a directory or a socket.
    #[error("module file `{path}` is {kind}, not a regular file")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// It is over the module-size limit (refused before being read whole).
    #[error("module file `{path}` is over the module-size limit of {cap} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size, or a lower bound.
        size: u64,
        /// The limit.
        cap: u64,
    },
    /// It is over a compile limit.
    #[error("module file `{path}`: {error}")]
    OverLimit {
        /// The file.
        path: String,
        /// Which limit, the module's value and the limit.
        error: LimitError,
    },
    /// It is not a WebAssembly core module.
    #[error("`{path}` is not a WebAssembly module: {reason}")]
    NotWasm {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Reads `path` as a module file: a regular file within the module-size limit of `limits`.
pub fn read_module(path: &Path, limits: &ModuleLimits) -> Result<Vec<u8>, LocalError> {
    let shown = path.display().to_string();
    read_regular(path, limits.get(Limit::ModuleSize)).map_err(|e| match e {
        RegularError::Missing => LocalError::Missing(shown),
        RegularError::NotRegular(kind) => LocalError::NotRegular { path: shown, kind },
        RegularError::TooLarge { size, cap } => LocalError::TooLarge {
            path: shown,
            size,
            cap,
        },
        RegularError::Io(source) => LocalError::Unreadable {
            path: shown,
            source,
        },
    })
}

/// Reads, checks (Wasm, compile limits) and hashes the module at `path`. A binary the limits
/// walk cannot parse is left for the compiler to describe.
pub fn resolve(path: &Path, limits: &ModuleLimits) -> Result<ResolvedSource, LocalError> {
    let shown = path.display().to_string();
    let bytes = read_module(path, limits)?;
    if let Some(reason) = not_wasm_reason(&bytes) {
        return Err(LocalError::NotWasm {
            path: shown,
            reason,
        });
    }
    if let Err(error @ LimitError::Exceeded { .. }) = check_module(&bytes, limits) {
        return Err(LocalError::OverLimit { path: shown, error });
    }
    Ok(ResolvedSource {
        path: path.to_path_buf(),
        sha256: sha256_hex(&bytes),
        pinned: path.display().to_string(),
    })
}

/// Why `bytes` are not a WebAssembly core module, or `None` when they look like one.
pub fn not_wasm_reason(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        if bytes.starts_with(b"\x7fELF") {
            return Some(
                "it is native code (a precompiled .cwasm?); give the .wasm it came from".into(),
            );
        }
        if bytes.starts_with(b"(module") || bytes.starts_with(b"(component") {
            return Some("it is WebAssembly text (WAT); compile it with wat2wasm first".into());
        }
        return Some("it does not start with the `\\0asm` magic number".into());
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => None,
        [_, _, 1, 0] => Some(
            "it is a WebAssembly component; mod_wasm runs core modules (WASI preview 1 commands)"
                .into(),
        ),
        _ => Some("unknown WebAssembly binary version".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_modules_and_strangers() {
        assert_eq!(not_wasm_reason(b"\0asm\x01\0\0\0"), None);
        assert!(
            not_wasm_reason(b"\x7fELF\x02\x01\x01\0")
                .unwrap()
                .contains("native")
        );
        assert!(not_wasm_reason(b"(module)").unwrap().contains("WAT"));
        assert!(
            not_wasm_reason(b"\0asm\x0d\0\x01\0")
                .unwrap()
                .contains("component")
        );
        assert!(not_wasm_reason(b"hi").is_some());
    }

    #[test]
    fn missing_file_is_reported_as_missing() {
        assert!(matches!(
            resolve(Path::new("/nonexistent/x.wasm"), &ModuleLimits::default()),
            Err(LocalError::Missing(_))
        ));
    }

    #[test]
    fn devices_and_big_files_are_refused_before_reading() {
        assert!(matches!(
            resolve(Path::new("/dev/zero"), &ModuleLimits::default()),
            Err(LocalError::NotRegular {
                kind: "a character device",
                ..
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let mut limits = ModuleLimits::default();
        limits.apply_setting("module-size=1k").unwrap();
        assert!(matches!(
            resolve(&path, &limits),
            Err(LocalError::TooLarge { cap: 1024, .. })
        ));
    }
}

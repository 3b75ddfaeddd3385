//! Local module files: read, recognise as a WebAssembly core module, hash.

use std::path::Path;

use wasm_runtime::digest::sha256_hex;

use super::ResolvedSource;

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
    /// It is not a WebAssembly core module.
    #[error("`{path}` is not a WebAssembly module: {reason}")]
    NotWasm {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Reads, checks and hashes the module at `path`.
pub fn resolve(path: &Path) -> Result<ResolvedSource, LocalError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LocalError::Missing(shown.clone()),
        _ if path.is_dir() => LocalError::NotWasm {
            path: shown.clone(),
            reason: "it is a directory".into(),
        },
        _ => LocalError::Unreadable {
            path: shown.clone(),
            source: e,
        },
    })?;
    if let Some(reason) = not_wasm_reason(&bytes) {
        return Err(LocalError::NotWasm {
            path: shown,
            reason,
        });
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
            resolve(Path::new("/nonexistent/x.wasm")),
            Err(LocalError::Missing(_))
        ));
    }
}

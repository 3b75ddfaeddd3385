//! Local module files: read (a regular file, within the module-size limit), recognise as a
//! WebAssembly core module or component, check against the compile limits, hash.

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
    /// It is not a WebAssembly core module or component.
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
    let kind = wasm_kind(&bytes).map_err(|reason| LocalError::NotWasm {
        path: shown.clone(),
        reason,
    })?;
    if let Err(error @ LimitError::Exceeded { .. }) = check_module(&bytes, limits) {
        return Err(LocalError::OverLimit { path: shown, error });
    }
    Ok(ResolvedSource {
        path: path.to_path_buf(),
        sha256: sha256_hex(&bytes),
        pinned: path.display().to_string(),
        kind: Some(kind),
    })
}

/// What a WebAssembly binary is: a core module (a WASI preview 1 command) or a component
/// (`wasi:http/incoming-handler` or `wasi:cli/run`). The server tells them apart the same way,
/// from the binary, and reports the kind in wasm-status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasmKind {
    /// A core module: preamble `\0asm 01 00 00 00`.
    Module,
    /// A component: preamble `\0asm 0d 00 01 00` (version 13, layer 1).
    Component,
}

impl WasmKind {
    /// `module` or `component`, as `bundle.lock` and wasm-status write it.
    pub fn as_str(self) -> &'static str {
        match self {
            WasmKind::Module => "module",
            WasmKind::Component => "component",
        }
    }
}

impl std::fmt::Display for WasmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of WebAssembly binary `bytes` start as, or why they are not one this runtime runs.
pub fn wasm_kind(bytes: &[u8]) -> Result<WasmKind, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        if bytes.starts_with(b"\x7fELF") {
            return Err(
                "it is native code (a precompiled .cwasm?); give the .wasm it came from".into(),
            );
        }
        if bytes.starts_with(b"(module") || bytes.starts_with(b"(component") {
            return Err(
                "it is WebAssembly text (WAT); compile it first (wat2wasm, or wasm-tools parse)"
                    .into(),
            );
        }
        return Err("it does not start with the `\\0asm` magic number".into());
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Ok(WasmKind::Module),
        [0x0d, 0, 1, 0] => Ok(WasmKind::Component),
        [version, 0, 1, 0] => Err(format!(
            "it is a WebAssembly component in a pre-release encoding (version {version:#04x}); \
             rebuild it with current tools (component version 0x0d)"
        )),
        _ => Err("unknown WebAssembly binary version".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_modules_components_and_strangers() {
        assert_eq!(wasm_kind(b"\0asm\x01\0\0\0"), Ok(WasmKind::Module));
        assert_eq!(wasm_kind(b"\0asm\x0d\0\x01\0"), Ok(WasmKind::Component));
        let component = wat::parse_str("(component)").unwrap();
        assert_eq!(wasm_kind(&component), Ok(WasmKind::Component));
        assert_eq!(WasmKind::Component.to_string(), "component");
        assert!(
            wasm_kind(b"\x7fELF\x02\x01\x01\0")
                .unwrap_err()
                .contains("native")
        );
        assert!(wasm_kind(b"(module)").unwrap_err().contains("WAT"));
        assert!(wasm_kind(b"(component)").unwrap_err().contains("WAT"));
        assert!(
            wasm_kind(b"\0asm\x0a\0\x01\0")
                .unwrap_err()
                .contains("pre-release")
        );
        assert!(wasm_kind(b"\0asm\x02\0\0\0").is_err());
        assert!(wasm_kind(b"hi").is_err());
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

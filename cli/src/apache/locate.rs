//! Finding `mod_wasm.so`, the `apache2` binary and the system's module folder.

use std::path::{Path, PathBuf};

/// Debian's Apache binary.
pub const APACHE_BIN: &str = "/usr/sbin/apache2";
/// Debian's Apache module folder.
pub const APACHE_MODULES: &str = "/usr/lib/apache2/modules";
/// Debian's MIME types file.
pub const MIME_TYPES: &str = "/etc/mime.types";

/// `mod_wasm.so` was not found anywhere.
#[derive(Debug, thiserror::Error)]
#[error("cannot find mod_wasm.so (looked in: {})", .tried.join(", "))]
pub struct NotFound {
    /// Every place tried, in order.
    pub tried: Vec<String>,
}

/// Finds `mod_wasm.so`: `--mod-wasm-so`, then `$MOD_WASM_SO`, then `<exe dir>/../../build/`
/// (a development tree, `target/debug/mod-wasm`), then the system's module folder.
/// An explicit choice (flag or variable) that does not exist is not replaced by a guess.
pub fn mod_wasm_so(flag: Option<&Path>) -> Result<PathBuf, NotFound> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("MOD_WASM_SO")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let candidates: Vec<PathBuf> = match explicit {
        Some(path) => vec![path],
        None => {
            let mut c = Vec::new();
            if let Ok(exe) = std::env::current_exe()
                && let Some(dir) = exe.parent()
            {
                c.push(dir.join("../../build/mod_wasm.so"));
            }
            c.push(Path::new(APACHE_MODULES).join("mod_wasm.so"));
            c
        }
    };
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(std::fs::canonicalize(candidate).unwrap_or_else(|_| candidate.clone()));
        }
    }
    Err(NotFound {
        tried: candidates.iter().map(|p| p.display().to_string()).collect(),
    })
}

/// The Apache binary: `$MOD_WASM_APACHE` or [`APACHE_BIN`].
pub fn apache_bin() -> PathBuf {
    std::env::var_os("MOD_WASM_APACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(APACHE_BIN))
}

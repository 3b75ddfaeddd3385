//! Precompiled modules (`.cwasm`) and the sidecar that vouches for them.
//!
//! A `.cwasm` is native code, so it is loaded only when a sidecar `NAME.cwasm.meta`, written
//! with it, records the `.cwasm`'s own SHA-256 and the engine compatibility hash, and both match.
//! The sidecar is a small `key = value` text file:
//!
//! ```text
//! format = mod-wasm-cwasm/1
//! runtime = 0.1.0
//! compatibility = <hex sha256 of the engine's compatibility hash>
//! wasm_sha256 = <hex sha256 of the source .wasm>
//! cwasm_sha256 = <hex sha256 of the .cwasm file>
//! source = hello.wasm
//! ```

use std::path::{Path, PathBuf};

use wasmtime::Engine;

use crate::atomic_file::write_atomic;
use crate::digest::sha256_hex;
use crate::engine::compatibility_hash;
use crate::error::RuntimeError;

/// The sidecar format tag.
pub const SIDECAR_FORMAT: &str = "mod-wasm-cwasm/1";

/// What a sidecar records about one `.cwasm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CwasmMeta {
    /// Version of the runtime crate that wrote it.
    pub runtime_version: String,
    /// [`compatibility_hash`] of the engine that compiled it.
    pub compatibility: String,
    /// SHA-256 of the `.wasm` it was compiled from.
    pub wasm_sha256: String,
    /// SHA-256 of the `.cwasm` bytes.
    pub cwasm_sha256: String,
    /// File name of the source `.wasm`, relative to the `.cwasm`'s folder, when known.
    pub source: Option<String>,
}

impl CwasmMeta {
    /// The sidecar's text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "format = {SIDECAR_FORMAT}\nruntime = {}\ncompatibility = {}\nwasm_sha256 = {}\ncwasm_sha256 = {}\n",
            self.runtime_version, self.compatibility, self.wasm_sha256, self.cwasm_sha256
        );
        if let Some(source) = &self.source {
            text.push_str(&format!("source = {source}\n"));
        }
        text
    }

    /// Parses a sidecar; any unknown format or missing key is an error.
    pub fn parse(text: &str) -> Result<CwasmMeta, String> {
        let mut format = None;
        let mut runtime_version = None;
        let mut compatibility = None;
        let mut wasm_sha256 = None;
        let mut cwasm_sha256 = None;
        let mut source = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {}: expected `key = value`", n + 1))?;
            let value = value.trim().to_string();
            match key.trim() {
                "format" => format = Some(value),
                "runtime" => runtime_version = Some(value),
                "compatibility" => compatibility = Some(value),
                "wasm_sha256" => wasm_sha256 = Some(value),
                "cwasm_sha256" => cwasm_sha256 = Some(value),
                "source" => source = Some(value),
                _ => {}
            }
        }
        match format.as_deref() {
            Some(SIDECAR_FORMAT) => {}
            Some(other) => return Err(format!("unknown sidecar format `{other}`")),
            None => return Err("missing `format`".into()),
        }
        let need = |v: Option<String>, k: &str| v.ok_or_else(|| format!("missing `{k}`"));
        Ok(CwasmMeta {
            runtime_version: need(runtime_version, "runtime")?,
            compatibility: need(compatibility, "compatibility")?,
            wasm_sha256: need(wasm_sha256, "wasm_sha256")?,
            cwasm_sha256: need(cwasm_sha256, "cwasm_sha256")?,
            source,
        })
    }
}

/// `NAME.cwasm` -> `NAME.cwasm.meta`.
pub fn sidecar_path(cwasm: &Path) -> PathBuf {
    let mut name = cwasm.as_os_str().to_owned();
    name.push(".meta");
    PathBuf::from(name)
}

/// Reads and parses the sidecar of `cwasm`; the error says which file and why.
pub fn read_sidecar(cwasm: &Path) -> Result<CwasmMeta, String> {
    let sidecar = sidecar_path(cwasm);
    std::fs::read_to_string(&sidecar)
        .map_err(|e| format!("cannot read its sidecar {}: {e}", sidecar.display()))
        .and_then(|text| CwasmMeta::parse(&text))
}

/// Compiles `wasm` into a `.cwasm` image for `engine`.
pub fn precompile(
    engine: &Engine,
    wasm: &[u8],
    path_for_errors: &str,
) -> Result<Vec<u8>, RuntimeError> {
    engine
        .precompile_module(wasm)
        .map_err(|e| RuntimeError::Compile {
            path: path_for_errors.to_string(),
            reason: format!("{e:#}"),
        })
}

/// Compiles `wasm` and writes `cwasm_path` and its sidecar atomically (the sidecar last).
/// `source` is the `.wasm` file name to record, relative to the `.cwasm`'s folder.
pub fn write_precompiled(
    engine: &Engine,
    wasm: &[u8],
    cwasm_path: &Path,
    source: Option<&str>,
) -> Result<CwasmMeta, RuntimeError> {
    let image = precompile(engine, wasm, &cwasm_path.display().to_string())?;
    let meta = CwasmMeta {
        runtime_version: crate::RUNTIME_VERSION.to_string(),
        compatibility: compatibility_hash(engine),
        wasm_sha256: sha256_hex(wasm),
        cwasm_sha256: sha256_hex(&image),
        source: source.map(str::to_string),
    };
    let io = |source| RuntimeError::Io {
        path: cwasm_path.display().to_string(),
        source,
    };
    write_atomic(cwasm_path, &image).map_err(io)?;
    write_atomic(&sidecar_path(cwasm_path), meta.to_text().as_bytes()).map_err(io)?;
    Ok(meta)
}

/// Checks a `.cwasm` image against its sidecar and the engine; `Ok` means it may be loaded.
pub fn verify(engine: &Engine, image: &[u8], meta: &CwasmMeta) -> Result<(), String> {
    let actual = sha256_hex(image);
    if actual != meta.cwasm_sha256 {
        return Err(format!(
            "digest mismatch: file is sha256:{actual}, sidecar says sha256:{}",
            meta.cwasm_sha256
        ));
    }
    let ours = compatibility_hash(engine);
    if ours != meta.compatibility {
        return Err(format!(
            "compiled for another engine (compatibility {}, this runtime {ours})",
            short(&meta.compatibility)
        ));
    }
    if Engine::detect_precompiled(image).is_none() {
        return Err("not a precompiled Wasm module".into());
    }
    Ok(())
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_round_trips_and_rejects_garbage() {
        let meta = CwasmMeta {
            runtime_version: "0.1.0".into(),
            compatibility: "ab".into(),
            wasm_sha256: "cd".into(),
            cwasm_sha256: "ef".into(),
            source: Some("hello.wasm".into()),
        };
        assert_eq!(CwasmMeta::parse(&meta.to_text()).unwrap(), meta);
        assert!(CwasmMeta::parse("format = other/9\n").is_err());
        assert!(CwasmMeta::parse("nonsense").is_err());
        assert!(CwasmMeta::parse(&format!("format = {SIDECAR_FORMAT}\n")).is_err());
    }

    #[test]
    fn sidecar_path_appends_meta() {
        assert_eq!(
            sidecar_path(Path::new("/b/m/hello.cwasm")),
            PathBuf::from("/b/m/hello.cwasm.meta")
        );
    }
}

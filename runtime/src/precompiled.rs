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

use thiserror::Error;
use wasmtime::Engine;

use crate::atomic_file::write_atomic;
use crate::digest::sha256_hex;
use crate::engine::compatibility_hash;
use crate::error::RuntimeError;

/// The sidecar format tag.
pub const SIDECAR_FORMAT: &str = "mod-wasm-cwasm/1";

/// Why a sidecar could not vouch for a `.cwasm`.
#[derive(Debug, Error)]
pub enum SidecarError {
    /// The sidecar file could not be read.
    #[error("cannot read its sidecar {path}: {source}")]
    Unreadable {
        /// The sidecar.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The sidecar is not ours or lacks a key.
    #[error("its sidecar {path} is malformed: {reason}")]
    Malformed {
        /// The sidecar.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The `.cwasm` is not the file the sidecar was written with.
    #[error("digest mismatch: file is sha256:{actual}, sidecar says sha256:{recorded}")]
    DigestMismatch {
        /// The file's digest.
        actual: String,
        /// The sidecar's.
        recorded: String,
    },
    /// Compiled by an engine with other settings or another version.
    #[error("compiled for another engine (compatibility {recorded}, this runtime {ours})")]
    OtherEngine {
        /// The sidecar's compatibility hash (short).
        recorded: String,
        /// This engine's (short).
        ours: String,
    },
    /// Not a precompiled module at all.
    #[error("not a precompiled Wasm module")]
    NotPrecompiled,
}

/// What a sidecar records about one `.cwasm`: the one reader and writer of `NAME.cwasm.meta`,
/// for the server's loader and cache and for the CLI's bundles and cache alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sidecar {
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

impl Sidecar {
    /// The sidecar for `image`, compiled by `engine` from a `.wasm` whose SHA-256 is `wasm_sha256`.
    pub fn new(engine: &Engine, wasm_sha256: &str, image: &[u8], source: Option<&str>) -> Sidecar {
        Sidecar {
            runtime_version: crate::RUNTIME_VERSION.to_string(),
            compatibility: compatibility_hash(engine),
            wasm_sha256: wasm_sha256.to_string(),
            cwasm_sha256: sha256_hex(image),
            source: source.map(str::to_string),
        }
    }

    /// The same sidecar naming another source `.wasm` (or none).
    pub fn with_source(&self, source: Option<&str>) -> Sidecar {
        Sidecar {
            source: source.map(str::to_string),
            ..self.clone()
        }
    }

    /// `NAME.cwasm` -> `NAME.cwasm.meta`.
    pub fn path_for(cwasm: &Path) -> PathBuf {
        let mut name = cwasm.as_os_str().to_owned();
        name.push(".meta");
        PathBuf::from(name)
    }

    /// Reads the sidecar of `cwasm`.
    pub fn read(cwasm: &Path) -> Result<Sidecar, SidecarError> {
        let path = Sidecar::path_for(cwasm);
        let text = std::fs::read_to_string(&path).map_err(|source| SidecarError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Sidecar::parse(&text).map_err(|reason| SidecarError::Malformed {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Checks `image` against this sidecar and `engine`; `Ok` means it may be loaded.
    pub fn verify(&self, engine: &Engine, image: &[u8]) -> Result<(), SidecarError> {
        let actual = sha256_hex(image);
        if actual != self.cwasm_sha256 {
            return Err(SidecarError::DigestMismatch {
                actual,
                recorded: self.cwasm_sha256.clone(),
            });
        }
        let ours = compatibility_hash(engine);
        if ours != self.compatibility {
            return Err(SidecarError::OtherEngine {
                recorded: short(&self.compatibility).to_string(),
                ours: short(&ours).to_string(),
            });
        }
        if Engine::detect_precompiled(image).is_none() {
            return Err(SidecarError::NotPrecompiled);
        }
        Ok(())
    }

    /// Writes `image` to `cwasm`, then this sidecar beside it (last, so a reader never sees a
    /// sidecar vouching for a half-written image), each with `write` (atomic or with fixed
    /// modes: the caller's choice).
    pub fn write_beside(
        &self,
        cwasm: &Path,
        image: &[u8],
        write: impl Fn(&Path, &[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        write(cwasm, image)?;
        write(&Sidecar::path_for(cwasm), self.to_text().as_bytes())
    }

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
    pub fn parse(text: &str) -> Result<Sidecar, String> {
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
        Ok(Sidecar {
            runtime_version: need(runtime_version, "runtime")?,
            compatibility: need(compatibility, "compatibility")?,
            wasm_sha256: need(wasm_sha256, "wasm_sha256")?,
            cwasm_sha256: need(cwasm_sha256, "cwasm_sha256")?,
            source,
        })
    }
}

/// Compiles `wasm` into a `.cwasm` image for `engine`.
pub fn precompile(
    engine: &Engine,
    wasm: &[u8],
    path_for_errors: &str,
) -> Result<Vec<u8>, RuntimeError> {
    let compiled = if wasmparser::Parser::is_component(wasm) {
        engine.precompile_component(wasm)
    } else {
        engine.precompile_module(wasm)
    };
    compiled.map_err(|e| RuntimeError::Compile {
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
) -> Result<Sidecar, RuntimeError> {
    let image = precompile(engine, wasm, &cwasm_path.display().to_string())?;
    let sidecar = Sidecar::new(engine, &sha256_hex(wasm), &image, source);
    sidecar
        .write_beside(cwasm_path, &image, write_atomic)
        .map_err(|source| RuntimeError::Io {
            path: cwasm_path.display().to_string(),
            source,
        })?;
    Ok(sidecar)
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_round_trips_and_rejects_garbage() {
        let meta = Sidecar {
            runtime_version: "0.1.0".into(),
            compatibility: "ab".into(),
            wasm_sha256: "cd".into(),
            cwasm_sha256: "ef".into(),
            source: Some("hello.wasm".into()),
        };
        assert_eq!(Sidecar::parse(&meta.to_text()).unwrap(), meta);
        assert!(Sidecar::parse("format = other/9\n").is_err());
        assert!(Sidecar::parse("nonsense").is_err());
        assert!(Sidecar::parse(&format!("format = {SIDECAR_FORMAT}\n")).is_err());
    }

    #[test]
    fn sidecar_path_appends_meta() {
        assert_eq!(
            Sidecar::path_for(Path::new("/b/m/hello.cwasm")),
            PathBuf::from("/b/m/hello.cwasm.meta")
        );
    }
}

//! Loading modules: once per content digest, from a `.wasm`, a vouched-for `.cwasm`, or the
//! compiled-code cache; and load cycles, so a restart frees modules no longer configured.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wasmtime::Engine;

use crate::atomic_file::write_atomic;
use crate::compiled::Compiled;
use crate::digest::sha256_hex;
use crate::error::RuntimeError;
use crate::module_limits::{ModuleLimits, check_module};
use crate::native_trust::check_native_code_trust;
use crate::precompiled::Sidecar;
use crate::runtime::{LoadOrigin, LoadedModule, LogLevel, Runtime};

const WASM_MAGIC: &[u8] = b"\0asm";

impl Runtime {
    /// Starts a load cycle: modules not loaded again before [`Runtime::end_load`] are freed.
    pub fn begin_load(&self) {
        let mut registry = self.registry();
        registry.kept.clear();
        let current = std::mem::take(&mut registry.dirs);
        registry.previous_dirs = current;
    }

    /// Ends a load cycle, freeing every module it did not load. Returns how many were freed.
    pub fn end_load(&self) -> usize {
        let mut registry = self.registry();
        let kept = std::mem::take(&mut registry.kept);
        let before = registry.by_digest.len();
        registry.by_digest.retain(|digest, _| kept.contains(digest));
        let freed = before - registry.by_digest.len();
        registry.kept = kept;
        registry.previous_dirs.clear();
        freed
    }

    /// Number of modules currently loaded.
    pub fn loaded_count(&self) -> usize {
        self.registry().by_digest.len()
    }

    /// Every loaded module, ordered by path.
    pub fn loaded_modules(&self) -> Vec<Arc<LoadedModule>> {
        let mut modules: Vec<Arc<LoadedModule>> =
            self.registry().by_digest.values().cloned().collect();
        modules.sort_by(|a, b| a.path.cmp(&b.path));
        modules
    }

    /// Loads the module at `path` (see the C API's `wasm_runtime_load_module`).
    pub fn load_module(&self, path: &Path) -> Result<Arc<LoadedModule>, RuntimeError> {
        let bytes = read(path)?;
        if bytes.starts_with(WASM_MAGIC) {
            self.load_wasm(path, &bytes)
        } else if Engine::detect_precompiled(&bytes).is_some() {
            self.load_cwasm(path, &bytes)
        } else {
            Err(RuntimeError::NotWasm {
                path: path.display().to_string(),
                reason: "no Wasm magic number and not a precompiled module".into(),
            })
        }
    }

    fn reuse(&self, digest: &str) -> Option<Arc<LoadedModule>> {
        let mut registry = self.registry();
        let found = registry.by_digest.get(digest).cloned();
        if found.is_some() {
            registry.kept.insert(digest.to_string());
        }
        found
    }

    /// Registers `module` under `key` (the digest of the bytes read); `digest` is the `.wasm`'s.
    fn insert(
        &self,
        path: &Path,
        key: String,
        digest: String,
        compiled: Compiled,
        origin: LoadOrigin,
    ) -> Result<Arc<LoadedModule>, RuntimeError> {
        let code = self.link(compiled).map_err(|reason| RuntimeError::Link {
            path: path.display().to_string(),
            reason,
        })?;
        let loaded = Arc::new(LoadedModule {
            digest_c: std::ffi::CString::new(digest.as_str()).unwrap_or_default(),
            digest,
            code,
            origin,
            path: path.display().to_string(),
        });
        let mut registry = self.registry();
        registry.kept.insert(key.clone());
        registry.by_digest.insert(key, loaded.clone());
        Ok(loaded)
    }

    fn load_wasm(&self, path: &Path, bytes: &[u8]) -> Result<Arc<LoadedModule>, RuntimeError> {
        let digest = sha256_hex(bytes);
        if let Some(found) = self.reuse(&digest) {
            self.log(
                LogLevel::Info,
                &format!("reusing {} (sha256:{})", path.display(), short(&digest)),
            );
            return Ok(found);
        }
        if let Some(module) = self.load_cached(&digest) {
            self.log(
                LogLevel::Notice,
                &format!(
                    "loaded {} (sha256:{}) from the cache",
                    path.display(),
                    short(&digest)
                ),
            );
            return self.insert(path, digest.clone(), digest, module, LoadOrigin::Cache);
        }
        check_module(bytes, &self.load_policy().limits).map_err(|e| {
            RuntimeError::CompileLimit {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        let started = Instant::now();
        let module =
            Compiled::from_binary(self.engine(), bytes).map_err(|e| RuntimeError::Compile {
                path: path.display().to_string(),
                reason: format!("{e:#}"),
            })?;
        self.log(
            LogLevel::Notice,
            &format!(
                "compiled {} (sha256:{}) in {} ms",
                path.display(),
                short(&digest),
                started.elapsed().as_millis()
            ),
        );
        self.write_cache(&digest, &module);
        self.insert(path, digest.clone(), digest, module, LoadOrigin::Compiled)
    }

    fn load_cwasm(&self, path: &Path, image: &[u8]) -> Result<Arc<LoadedModule>, RuntimeError> {
        let sidecar = Sidecar::read(path);
        let run_uid = self.load_policy().run_uid;
        let checked = match &sidecar {
            Ok(meta) => meta
                .verify(self.engine(), image)
                .map_err(|e| e.to_string())
                .and_then(|()| check_native_code_trust(path, run_uid))
                .map(|()| meta.clone()),
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok(meta) => {
                // Shared only with routes that name these very bytes: never by the `.wasm`
                // digest the sidecar claims, which a forger can write.
                let key = format!("cwasm:{}", sha256_hex(image));
                if let Some(found) = self.reuse(&key) {
                    return Ok(found);
                }
                // SAFETY: the image's digest matches the sidecar written with it, and the sidecar's
                // compatibility hash matches this engine.
                let module =
                    unsafe { Compiled::deserialize(self.engine(), image) }.map_err(|e| {
                        RuntimeError::PrecompiledRefused {
                            path: path.display().to_string(),
                            reason: format!("{e:#}"),
                        }
                    })?;
                self.log(
                    LogLevel::Notice,
                    &format!(
                        "loaded precompiled {} (sha256:{})",
                        path.display(),
                        short(&meta.wasm_sha256)
                    ),
                );
                self.insert(path, key, meta.wasm_sha256, module, LoadOrigin::Precompiled)
            }
            Err(reason) => {
                let source = source_wasm_for(path, sidecar.ok().as_ref());
                match source.filter(|s| s.is_file()) {
                    Some(source) => {
                        self.log(
                            LogLevel::Warn,
                            &format!(
                                "refusing precompiled {}: {reason}; compiling {} instead",
                                path.display(),
                                source.display()
                            ),
                        );
                        let bytes = read(&source)?;
                        if !bytes.starts_with(WASM_MAGIC) {
                            return Err(RuntimeError::NotWasm {
                                path: source.display().to_string(),
                                reason: "no Wasm magic number".into(),
                            });
                        }
                        self.load_wasm(&source, &bytes)
                    }
                    None => Err(RuntimeError::PrecompiledRefused {
                        path: path.display().to_string(),
                        reason: format!("{reason}; and no source .wasm beside it"),
                    }),
                }
            }
        }
    }

    /// Where the cache keeps the compiled form of `digest` (its sidecar beside it).
    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.cache_dir()?.join(&self.compatibility()[..16]);
        Some(dir.join(format!("{digest}.cwasm")))
    }

    fn load_cached(&self, digest: &str) -> Option<Compiled> {
        let cwasm = self.cache_path(digest)?;
        let image = fs::read(&cwasm).ok()?;
        let run_uid = self.load_policy().run_uid;
        let checked = check_native_code_trust(&cwasm, run_uid).and_then(|()| {
            let meta = Sidecar::read(&cwasm).map_err(|e| e.to_string())?;
            if meta.wasm_sha256 != digest {
                return Err("it was compiled from other bytes".into());
            }
            meta.verify(self.engine(), &image)
                .map_err(|e| e.to_string())
        });
        if let Err(reason) = checked {
            self.log(
                LogLevel::Warn,
                &format!("refusing cached {}: {reason}; recompiling", cwasm.display()),
            );
            return None;
        }
        // SAFETY: digest and compatibility verified against the sidecar written with the image.
        match unsafe { Compiled::deserialize(self.engine(), &image) } {
            Ok(module) => Some(module),
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    &format!("refusing cached {}: {e:#}; recompiling", cwasm.display()),
                );
                None
            }
        }
    }

    fn write_cache(&self, digest: &str, module: &Compiled) {
        let Some(cwasm) = self.cache_path(digest) else {
            return;
        };
        let result = module
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|image| {
                Sidecar::new(self.engine(), digest, &image, None)
                    .write_beside(&cwasm, &image, write_atomic)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => self.log(
                LogLevel::Info,
                &format!("wrote compiled module to {}", cwasm.display()),
            ),
            Err(e) => self.log(
                LogLevel::Warn,
                &format!("cannot write the cache entry {}: {e}", cwasm.display()),
            ),
        }
    }
}

/// The `.wasm` a `.cwasm` was compiled from: the sidecar's `source`, else `NAME.wasm` beside it.
fn source_wasm_for(cwasm: &Path, meta: Option<&Sidecar>) -> Option<PathBuf> {
    let dir = cwasm.parent().unwrap_or_else(|| Path::new("."));
    let from_meta = meta
        .and_then(|m| m.source.as_deref())
        .filter(|s| !s.contains('/') && !s.starts_with('.'))
        .map(|s| dir.join(s));
    from_meta.or_else(|| Some(cwasm.with_extension("wasm")))
}

/// One engine per process for validating files (`apachectl -t`), never for running them.
fn validation_engine() -> Result<&'static Engine, RuntimeError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let settings = crate::engine::EngineSettings {
                pooling: false,
                parallel_compilation: false,
                ..Default::default()
            };
            Engine::new(&crate::engine::wasmtime_config(&settings, false))
                .map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| RuntimeError::Engine(e.clone()))
}

/// Validates a component's binary without compiling it (what wasmtime's own compile checks first).
fn validate_component(bytes: &[u8]) -> Result<(), String> {
    let features = wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::COMPONENT_MODEL;
    wasmparser::Validator::new_with_features(features)
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn read(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    fs::read(path).map_err(|source| RuntimeError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// Checks, without compiling, that `path` is a readable, valid Wasm module within `limits`, or a
/// `.cwasm` whose sidecar matches its bytes. For `apachectl -t`.
pub fn check_module_file(path: &Path, limits: &ModuleLimits) -> Result<(), RuntimeError> {
    let bytes = read(path)?;
    if bytes.starts_with(WASM_MAGIC) {
        check_module(&bytes, limits).map_err(|e| RuntimeError::CompileLimit {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if wasmparser::Parser::is_component(&bytes) {
            return validate_component(&bytes).map_err(|reason| RuntimeError::NotWasm {
                path: path.display().to_string(),
                reason,
            });
        }
        return wasmtime::Module::validate(validation_engine()?, &bytes).map_err(|e| {
            RuntimeError::NotWasm {
                path: path.display().to_string(),
                reason: format!("{e:#}"),
            }
        });
    }
    if Engine::detect_precompiled(&bytes).is_some() {
        return match Sidecar::read(path) {
            Ok(meta) if meta.cwasm_sha256 == sha256_hex(&bytes) => Ok(()),
            Ok(meta) => match source_wasm_for(path, Some(&meta)).filter(|s| s.is_file()) {
                Some(source) => check_module_file(&source, limits),
                None => Err(RuntimeError::PrecompiledRefused {
                    path: path.display().to_string(),
                    reason: "digest does not match its sidecar".into(),
                }),
            },
            Err(e) => Err(RuntimeError::PrecompiledRefused {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        };
    }
    Err(RuntimeError::NotWasm {
        path: path.display().to_string(),
        reason: "no Wasm magic number and not a precompiled module".into(),
    })
}

//! Precompiling modules into the bundle, in parallel.
//!
//! Every module (a core module or a component) is read once (a regular file within the
//! module-size limit), checked against its digest, its kind and the compile limits before
//! anything is compiled, and written from those very bytes. Compiled code is taken only from the
//! CLI's own cache ([`super::cache`]), verified against its sidecar and this engine; a `.cwasm`
//! found in the output folder is never read. Modules sharing a digest are compiled once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;
use wasm_runtime::digest::sha256_hex;
use wasm_runtime::module_limits::{Limit, LimitError, ModuleLimits, check_module};
use wasm_runtime::precompiled::{Sidecar, precompile};
use wasmtime::Engine;

use super::cache::CompiledCache;
use super::files;
use super::layout::BundleLayout;
use crate::sources::local::{LocalError, WasmKind, read_module, wasm_kind};

/// One module to put into `modules/`.
#[derive(Clone, Debug)]
pub struct Job {
    /// Module name (file stem in the bundle).
    pub name: String,
    /// Where its `.wasm` bytes are.
    pub wasm_path: PathBuf,
    /// Their SHA-256.
    pub sha256: String,
}

/// What happened to one module.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Module name.
    pub name: String,
    /// SHA-256 of its `.cwasm`.
    pub cwasm_sha256: String,
    /// Core module or component.
    pub kind: WasmKind,
    /// True when compiled in this build, false when taken from the cache or another module.
    pub compiled: bool,
}

/// Why a module could not be compiled or written.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The module is not valid Wasm (the user's problem).
    #[error("module `{name}` does not compile: {reason}")]
    Invalid {
        /// Module name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The module is over a compile limit (the user's problem).
    #[error("module `{name}`: {error}")]
    Limit {
        /// Module name.
        name: String,
        /// Which limit, the module's value and the limit.
        error: LimitError,
    },
    /// Reading or writing failed.
    #[error("module `{name}`: {source}")]
    Io {
        /// Module name.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to compile: the engine, the limits every module must meet, the cache.
pub struct Compiler<'a> {
    /// The engine (the runtime's own configuration).
    pub engine: &'a Engine,
    /// Compile limits, checked before compiling.
    pub limits: ModuleLimits,
    /// The CLI's compiled-code cache, when usable.
    pub cache: Option<&'a CompiledCache>,
    /// Compile threads.
    pub threads: usize,
}

fn io(name: &str) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        name: name.to_string(),
        source,
    }
}

/// Reads a job's bytes, checks them against its digest, tells a core module from a component,
/// and checks the limits (the walk counts every core module nested in a component).
fn read_checked(job: &Job, limits: &ModuleLimits) -> Result<(Vec<u8>, WasmKind), CompileError> {
    let bytes = read_module(&job.wasm_path, limits).map_err(|e| match e {
        LocalError::TooLarge { size, cap, .. } => CompileError::Limit {
            name: job.name.clone(),
            error: LimitError::Exceeded {
                limit: Limit::ModuleSize,
                value: size,
                max: cap,
            },
        },
        LocalError::Unreadable { source, .. } => CompileError::Io {
            name: job.name.clone(),
            source,
        },
        other => CompileError::Io {
            name: job.name.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    if sha256_hex(&bytes) != job.sha256 {
        return Err(CompileError::Io {
            name: job.name.clone(),
            source: std::io::Error::other("the file changed while building"),
        });
    }
    let kind = wasm_kind(&bytes).map_err(|reason| CompileError::Invalid {
        name: job.name.clone(),
        reason,
    })?;
    match check_module(&bytes, limits) {
        Ok(_) => Ok((bytes, kind)),
        Err(error @ LimitError::Exceeded { .. }) => Err(CompileError::Limit {
            name: job.name.clone(),
            error,
        }),
        Err(LimitError::Malformed(reason)) => Err(CompileError::Invalid {
            name: job.name.clone(),
            reason,
        }),
    }
}

impl Compiler<'_> {
    /// Writes every job's `.wasm`, `.cwasm` and sidecar into the bundle `out` (mode 0644).
    /// Distinct digests compile in parallel; `progress` advances per module.
    pub fn compile_all(
        &self,
        jobs: &[Job],
        out: &BundleLayout,
        progress: &ProgressBar,
    ) -> Result<Vec<Outcome>, CompileError> {
        // Every module is read and checked before anything is compiled.
        let mut first_of_digest: HashMap<&str, usize> = HashMap::new();
        let mut wasm: Vec<Option<(Vec<u8>, WasmKind)>> = vec![None; jobs.len()];
        let mut copies = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some(&first) = first_of_digest.get(job.sha256.as_str()) {
                copies.push((i, first));
            } else {
                first_of_digest.insert(&job.sha256, i);
                wasm[i] = Some(read_checked(job, &self.limits)?);
            }
        }
        let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
        let mut to_compile = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some((bytes, kind)) = &wasm[i] else {
                continue;
            };
            files::write_file(&out.wasm(&job.name), bytes).map_err(io(&job.name))?;
            match self.cache.and_then(|c| c.get(self.engine, &job.sha256)) {
                Some((image, meta)) => {
                    write_cwasm(out, &job.name, &image, &meta).map_err(io(&job.name))?;
                    outcomes.lock().expect("outcomes")[i] = Some(Outcome {
                        name: job.name.clone(),
                        cwasm_sha256: meta.cwasm_sha256,
                        kind: *kind,
                        compiled: false,
                    });
                    progress.inc(1);
                }
                None => to_compile.push(i),
            }
        }
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<CompileError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..self.threads.clamp(1, to_compile.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = to_compile.get(k) else { break };
                        if failure.lock().expect("failure").is_some() {
                            break;
                        }
                        progress.set_message(jobs[i].name.clone());
                        let (bytes, kind) = wasm[i].as_ref().expect("read above");
                        match self.compile_one(&jobs[i], bytes, *kind, out) {
                            Ok(outcome) => outcomes.lock().expect("outcomes")[i] = Some(outcome),
                            Err(e) => {
                                failure.lock().expect("failure").get_or_insert(e);
                            }
                        }
                        progress.inc(1);
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("failure") {
            return Err(e);
        }
        let mut outcomes = outcomes.into_inner().expect("outcomes");
        for (i, first) in copies {
            let source = outcomes[first].clone().expect("first of digest done");
            outcomes[i] = Some(copy_module(&jobs[i], &jobs[first], &source, out)?);
            progress.inc(1);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every job done"))
            .collect())
    }

    fn compile_one(
        &self,
        job: &Job,
        wasm: &[u8],
        kind: WasmKind,
        out: &BundleLayout,
    ) -> Result<Outcome, CompileError> {
        // The runtime's precompile: `Engine::precompile_component` for a component,
        // `precompile_module` for a core module.
        let image = match precompile(self.engine, wasm, &BundleLayout::wasm_file_name(&job.name)) {
            Ok(image) => image,
            Err(wasm_runtime::RuntimeError::Compile { reason, .. }) => {
                return Err(CompileError::Invalid {
                    name: job.name.clone(),
                    reason,
                });
            }
            Err(e) => return Err(io(&job.name)(std::io::Error::other(e.to_string()))),
        };
        let meta = Sidecar::new(self.engine, &job.sha256, &image, None);
        write_cwasm(out, &job.name, &image, &meta).map_err(io(&job.name))?;
        if let Some(cache) = self.cache {
            // A cache that cannot be written only costs a compile next time.
            let _ = cache.put(&image, &meta);
        }
        Ok(Outcome {
            name: job.name.clone(),
            cwasm_sha256: meta.cwasm_sha256,
            kind,
            compiled: true,
        })
    }
}

/// Writes module `name`'s `.cwasm` and its sidecar (naming its `.wasm` as the source), the
/// sidecar last.
fn write_cwasm(
    out: &BundleLayout,
    name: &str,
    image: &[u8],
    meta: &Sidecar,
) -> std::io::Result<()> {
    meta.with_source(Some(&BundleLayout::wasm_file_name(name)))
        .write_beside(&out.cwasm(name), image, files::write_file)
}

/// `job` has the same bytes as `first`: copy `first`'s files (written by this build) under
/// `job`'s name.
fn copy_module(
    job: &Job,
    first: &Job,
    done: &Outcome,
    out: &BundleLayout,
) -> Result<Outcome, CompileError> {
    let (from, to) = (first.name.as_str(), job.name.as_str());
    files::copy_file(&out.wasm(from), &out.wasm(to)).map_err(io(to))?;
    files::copy_file(&out.cwasm(from), &out.cwasm(to)).map_err(io(to))?;
    let meta = Sidecar::read(&out.cwasm(from))
        .map_err(|e| io(to)(std::io::Error::other(e.to_string())))?
        .with_source(Some(&BundleLayout::wasm_file_name(to)));
    files::write_file(&out.sidecar(to), meta.to_text().as_bytes()).map_err(io(to))?;
    Ok(Outcome {
        name: job.name.clone(),
        cwasm_sha256: done.cwasm_sha256.clone(),
        kind: done.kind,
        compiled: false,
    })
}

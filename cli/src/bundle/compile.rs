//! Precompiling modules into the bundle, in parallel, reusing every `.cwasm` that the previous
//! bundle already holds for the same `.wasm` digest and engine compatibility hash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;
use wasm_runtime::digest::sha256_hex;
use wasm_runtime::precompiled::{CwasmMeta, sidecar_path, write_precompiled};
use wasmtime::Engine;

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
    /// True when compiled in this build, false when reused.
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
    /// Reading or writing failed.
    #[error("module `{name}`: {source}")]
    Io {
        /// Module name.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Reusable `.cwasm` files of a previous bundle's `modules/`, by `.wasm` digest.
pub fn previous_cwasms(
    modules_dir: &Path,
    compatibility: &str,
) -> HashMap<String, (PathBuf, CwasmMeta)> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir(modules_dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("cwasm") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(sidecar_path(&path)) else {
            continue;
        };
        let Ok(meta) = CwasmMeta::parse(&text) else {
            continue;
        };
        if meta.compatibility == compatibility
            && meta.runtime_version == wasm_runtime::RUNTIME_VERSION
        {
            found.insert(meta.wasm_sha256.clone(), (path, meta));
        }
    }
    found
}

/// Writes `NAME.wasm`, `NAME.cwasm` and `NAME.cwasm.meta` into `out` for every job: a `.cwasm`
/// from `previous` is copied when its digests check out, otherwise the module is compiled.
/// Distinct digests compile in parallel on up to `threads` threads; `progress` advances per module.
pub fn compile_all(
    engine: &Engine,
    jobs: &[Job],
    previous: &HashMap<String, (PathBuf, CwasmMeta)>,
    out: &Path,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Vec<Outcome>, CompileError> {
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
    let mut to_compile = Vec::new();
    // Modules sharing a digest are compiled once: the first job compiles, the others copy.
    let mut first_of_digest: HashMap<&str, usize> = HashMap::new();
    let mut copies = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        copy_wasm(job, out)?;
        if let Some(&first) = first_of_digest.get(job.sha256.as_str()) {
            copies.push((i, first));
            continue;
        }
        first_of_digest.insert(&job.sha256, i);
        match previous
            .get(&job.sha256)
            .and_then(|(path, meta)| reuse(job, path, meta, out).transpose())
        {
            Some(result) => {
                outcomes.lock().expect("outcomes")[i] = Some(result?);
                progress.inc(1);
            }
            None => to_compile.push(i),
        }
    }
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<CompileError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, to_compile.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = to_compile.get(k) else { break };
                    if failure.lock().expect("failure").is_some() {
                        break;
                    }
                    progress.set_message(jobs[i].name.clone());
                    match compile_one(engine, &jobs[i], out) {
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
        let src = out.join(format!("{}.cwasm", jobs[first].name));
        let outcome = link_cwasm(&jobs[i], &src, &source.cwasm_sha256, out)?;
        outcomes[i] = Some(outcome);
        progress.inc(1);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every job done"))
        .collect())
}

fn io(name: &str) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        name: name.to_string(),
        source,
    }
}

fn copy_wasm(job: &Job, out: &Path) -> Result<(), CompileError> {
    std::fs::copy(&job.wasm_path, out.join(format!("{}.wasm", job.name)))
        .map(|_| ())
        .map_err(io(&job.name))
}

fn compile_one(engine: &Engine, job: &Job, out: &Path) -> Result<Outcome, CompileError> {
    let wasm = std::fs::read(&job.wasm_path).map_err(io(&job.name))?;
    if sha256_hex(&wasm) != job.sha256 {
        return Err(CompileError::Io {
            name: job.name.clone(),
            source: std::io::Error::other("the file changed while building"),
        });
    }
    let cwasm = out.join(format!("{}.cwasm", job.name));
    let source = format!("{}.wasm", job.name);
    match write_precompiled(engine, &wasm, &cwasm, Some(&source)) {
        Ok(meta) => Ok(Outcome {
            name: job.name.clone(),
            cwasm_sha256: meta.cwasm_sha256,
            compiled: true,
        }),
        Err(wasm_runtime::RuntimeError::Compile { reason, .. }) => Err(CompileError::Invalid {
            name: job.name.clone(),
            reason,
        }),
        Err(e) => Err(CompileError::Io {
            name: job.name.clone(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Copies a previous `.cwasm` if its bytes still match its sidecar.
fn reuse(
    job: &Job,
    path: &Path,
    meta: &CwasmMeta,
    out: &Path,
) -> Result<Option<Outcome>, CompileError> {
    let Ok(image) = std::fs::read(path) else {
        return Ok(None);
    };
    if sha256_hex(&image) != meta.cwasm_sha256 {
        return Ok(None);
    }
    link_cwasm(job, path, &meta.cwasm_sha256, out).map(|mut o| {
        o.compiled = false;
        Some(o)
    })
}

/// Puts a copy of `src` (a verified `.cwasm`) as `NAME.cwasm` with a fresh sidecar.
fn link_cwasm(
    job: &Job,
    src: &Path,
    cwasm_sha256: &str,
    out: &Path,
) -> Result<Outcome, CompileError> {
    let dest = out.join(format!("{}.cwasm", job.name));
    std::fs::copy(src, &dest).map_err(io(&job.name))?;
    let src_meta = std::fs::read_to_string(sidecar_path(src)).map_err(io(&job.name))?;
    let mut meta = CwasmMeta::parse(&src_meta).map_err(|e| CompileError::Io {
        name: job.name.clone(),
        source: std::io::Error::other(e),
    })?;
    meta.source = Some(format!("{}.wasm", job.name));
    std::fs::write(sidecar_path(&dest), meta.to_text()).map_err(io(&job.name))?;
    Ok(Outcome {
        name: job.name.clone(),
        cwasm_sha256: cwasm_sha256.to_string(),
        compiled: false,
    })
}

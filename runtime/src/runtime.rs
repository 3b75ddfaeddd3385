//! The per-process runtime: one engine, one linker, the loaded modules, the epoch ticker.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Engine, Linker};

use crate::compiled::{Code, Compiled, ModuleKind};
use crate::component_state::ComponentState;
use crate::engine::{EngineSettings, build_engine, compatibility_hash};
use crate::epoch::Ticker;
use crate::error::RuntimeError;
use crate::mapped_dir::MappedDir;
use crate::module_limits::ModuleLimits;
use crate::request_state::RequestState;
use crate::signals;

/// Severity of a runtime log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something was refused or fell back.
    Warn,
    /// Worth knowing at default log levels (compiles).
    Notice,
    /// Routine (cache hits, reuse).
    Info,
    /// Detail.
    Debug,
}

/// Where the runtime's start-up messages go.
pub type Logger = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// How a module's compiled code was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOrigin {
    /// Compiled from its `.wasm` now.
    Compiled,
    /// Loaded from `WasmCacheDir`.
    Cache,
    /// Loaded from a `.cwasm` the configuration named.
    Precompiled,
}

/// What loading trusts and refuses, set by the host before a load cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadPolicy {
    /// Compile limits checked before any module is compiled.
    pub limits: ModuleLimits,
    /// The uid requests run as (Apache's `User`), when it differs from the loading process's:
    /// a `.cwasm` that user owns is refused, since a module could have written it.
    pub run_uid: Option<u32>,
}

/// A compiled module ready to instantiate: shared by every route that names the same bytes.
pub struct LoadedModule {
    /// SHA-256 of the module's `.wasm` bytes (for a `.cwasm`: as its sidecar records it).
    pub digest: String,
    /// Linked code: imports resolved once; each request only instantiates.
    pub code: Code,
    /// Where the compiled code came from.
    pub origin: LoadOrigin,
    /// The file it was first loaded from.
    pub path: String,
    /// `digest` as a C string, for the C API.
    pub(crate) digest_c: std::ffi::CString,
}

/// Modules by the digest of the bytes actually read (`.wasm`, or `cwasm:` + the `.cwasm`'s), and
/// the mapped folders of this load cycle and the one before.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) by_digest: HashMap<String, Arc<LoadedModule>>,
    pub(crate) kept: HashSet<String>,
    pub(crate) dirs: Vec<Arc<MappedDir>>,
    pub(crate) previous_dirs: Vec<Arc<MappedDir>>,
}

/// One process's runtime. Its fields are private: the loader and the request runner (other
/// files) go through its methods.
pub struct Runtime {
    settings: EngineSettings,
    cache_dir: Option<PathBuf>,
    engine: Engine,
    compatibility: String,
    linker: Linker<RequestState>,
    component_linker: ComponentLinker<ComponentState>,
    registry: Mutex<Registry>,
    logger: RwLock<Option<Logger>>,
    policy: RwLock<LoadPolicy>,
    ticker: OnceLock<Ticker>,
    pooling: bool,
}

impl Runtime {
    /// Creates the engine for `settings` and saves the trap handlers it installed.
    pub fn new(
        settings: EngineSettings,
        cache_dir: Option<PathBuf>,
        logger: Option<Logger>,
    ) -> Result<Runtime, RuntimeError> {
        let built = build_engine(&settings)?;
        signals::save_trap_handlers();
        let mut linker = Linker::new(&built.engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut RequestState| {
            &mut state.wasi
        })
        .and_then(|_| crate::wasi_sleep::shadow_poll_oneoff(&mut linker))
        .and_then(|_| crate::wasi_exit::shadow_proc_exit(&mut linker))
        .and_then(|_| crate::wasi_open_files::shadow_open_files(&mut linker))
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        // Every WASI 0.2 interface and wasi:http: components built for the proxy world import
        // wasi:cli/environment and friends too. Each request's context grants only what its
        // route grants (no sockets, no outgoing HTTP unless WasmAllowOutbound names it).
        let mut component_linker = ComponentLinker::new(&built.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component_linker)
            .and_then(|()| {
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component_linker)
            })
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let compatibility = compatibility_hash(&built.engine);
        let runtime = Runtime {
            settings,
            cache_dir,
            compatibility,
            linker,
            component_linker,
            registry: Mutex::new(Registry::default()),
            logger: RwLock::new(logger),
            policy: RwLock::new(LoadPolicy::default()),
            ticker: OnceLock::new(),
            pooling: built.pooling,
            engine: built.engine,
        };
        if let Some(why) = &built.pooling_fallback {
            runtime.log(
                LogLevel::Warn,
                &format!("pooling allocator unavailable, using on-demand allocation: {why}"),
            );
        }
        Ok(runtime)
    }

    /// The settings this runtime was built with.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }
    /// The compiled-code cache folder, if any.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }
    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }
    /// This engine's compatibility hash (see [`compatibility_hash`]).
    pub fn compatibility(&self) -> &str {
        &self.compatibility
    }

    pub(crate) fn log(&self, level: LogLevel, message: &str) {
        let logger = self.logger.read().unwrap_or_else(|p| p.into_inner());
        if let Some(logger) = logger.as_ref() {
            logger(level, message);
        }
    }

    /// Replaces where log messages go (the host's logging function may have moved: Apache
    /// unloads and reloads its modules on restart).
    pub fn set_logger(&self, logger: Option<Logger>) {
        *self.logger.write().unwrap_or_else(|p| p.into_inner()) = logger;
    }

    /// Sets what later loads trust and refuse.
    pub fn set_load_policy(&self, policy: LoadPolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// What loads trust and refuse.
    pub fn load_policy(&self) -> LoadPolicy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a mapped folder for this load cycle (see [`MappedDir`]). It stays open until the end
    /// of the next load cycle, so requests of this configuration can use it.
    pub fn open_dir(&self, host: &str, read_only: bool) -> Result<Arc<MappedDir>, RuntimeError> {
        let dir = MappedDir::open(host, read_only).map_err(RuntimeError::InvalidSetting)?;
        let dir = Arc::new(dir);
        self.registry().dirs.push(dir.clone());
        Ok(dir)
    }

    /// Resolves the imports of `compiled` once, and for a component finds how it is served.
    pub(crate) fn link(&self, compiled: Compiled) -> Result<Code, String> {
        match compiled {
            Compiled::Module(module) => self
                .linker
                .instantiate_pre(&module)
                .map(Code::Core)
                .map_err(|e| format!("{e:#}")),
            Compiled::Component(component) => {
                let pre = self
                    .component_linker
                    .instantiate_pre(&component)
                    .map_err(|e| format!("{e:#}"))?;
                if let Ok(proxy) = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone()) {
                    return Ok(Code::Http(proxy));
                }
                wasmtime_wasi::p2::bindings::CommandPre::new(pre)
                    .map(Code::Command)
                    .map_err(|_| {
                        format!(
                            "the component exports neither wasi:http/incoming-handler ({}) nor \
                             wasi:cli/run ({})",
                            ModuleKind::HttpComponent.world(),
                            ModuleKind::CommandComponent.world()
                        )
                    })
            }
        }
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Per child process, before serving: trap handlers back, epoch ticker running.
    pub fn child_init(&self) {
        signals::restore_trap_handlers();
        self.ensure_ticker();
    }

    /// Starts the epoch ticker, and the tokio runtime WASI calls run on, if they are not running
    /// yet in this process; both with every signal blocked (see [`signals`]).
    pub fn ensure_ticker(&self) {
        self.ticker.get_or_init(|| {
            signals::with_signals_blocked(|| {
                wasmtime_wasi::runtime::in_tokio(async {});
                Ticker::start(&self.engine)
            })
        });
    }
}

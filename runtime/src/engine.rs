//! Engine settings in one place.
//!
//! The server (through the C API) and the CLI (when it precompiles `.cwasm` files) both build
//! their [`wasmtime::Engine`] with [`build_engine`], so an artifact written by one always loads
//! into the other. [`compatibility_hash`] names the settings that matter for compiled code.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel as CraneliftOptLevel};

use crate::error::RuntimeError;

/// How hard Cranelift optimises compiled code (`WasmEngineOptLevel`, manifest `opt-level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OptLevel {
    /// No optimisation: fastest compile.
    None,
    /// Optimise for speed (the default).
    #[default]
    Speed,
    /// Optimise for speed and code size.
    SpeedAndSize,
}

impl OptLevel {
    /// The spelling used by the directive and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed-and-size",
        }
    }
}

impl fmt::Display for OptLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OptLevel {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(OptLevel::None),
            "speed" => Ok(OptLevel::Speed),
            "speed-and-size" => Ok(OptLevel::SpeedAndSize),
            _ => Err(RuntimeError::InvalidSetting(format!(
                "unknown opt-level `{s}` (expected none, speed or speed-and-size)"
            ))),
        }
    }
}

/// Default number of instance slots in the pooling allocator when nothing else is known.
pub const DEFAULT_POOLING_MAX_INSTANCES: u32 = 128;

/// Largest number of entries a pooled table may hold (interpreters have large tables).
const POOLED_TABLE_ELEMENTS: usize = 200_000;

/// Core instances one component may hold (and so reserved per request slot).
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Linear memories reserved per request slot (a component may define more than one).
const MEMORIES_PER_SLOT: u32 = 2;
/// Tables reserved per request slot.
const TABLES_PER_SLOT: u32 = 8;

/// Every setting that shapes the engine. Fields not listed here are fixed by this crate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EngineSettings {
    /// Cranelift optimisation level.
    pub opt_level: OptLevel,
    /// Use the pooling instance allocator (falls back to on-demand when it cannot reserve).
    pub pooling: bool,
    /// Concurrent instances per process the pool is sized for (0: [`DEFAULT_POOLING_MAX_INSTANCES`]).
    pub pooling_max_instances: u32,
    /// Compile functions on several threads. Never use this in a forked child: the thread pool
    /// does not survive `fork`. Does not change the compiled code.
    pub parallel_compilation: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            opt_level: OptLevel::Speed,
            pooling: true,
            pooling_max_instances: 0,
            parallel_compilation: true,
        }
    }
}

impl EngineSettings {
    /// The pool size in effect.
    pub fn effective_max_instances(&self) -> u32 {
        if self.pooling_max_instances == 0 {
            DEFAULT_POOLING_MAX_INSTANCES
        } else {
            self.pooling_max_instances
        }
    }
}

/// The wasmtime `Config` for these settings. `pooling` selects the allocation strategy.
pub fn wasmtime_config(settings: &EngineSettings, pooling: bool) -> Config {
    let mut config = Config::new();
    config.cranelift_opt_level(match settings.opt_level {
        OptLevel::None => CraneliftOptLevel::None,
        OptLevel::Speed => CraneliftOptLevel::Speed,
        OptLevel::SpeedAndSize => CraneliftOptLevel::SpeedAndSize,
    });
    // Time limits are enforced by epoch interruption (a ticker thread per process).
    config.epoch_interruption(true);
    // An interpreter's data segments are mapped copy-on-write, not copied, per instance.
    config.memory_init_cow(true);
    config.parallel_compilation(settings.parallel_compilation);
    if pooling {
        let n = settings.effective_max_instances();
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // A component holds several core instances (an interpreter built by componentize-py:
        // its libraries, the WASI adapter and shims), memories and tables; a core module one of
        // each. Slots are sized so that every request slot can run such a component.
        pool.total_component_instances(n)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(n.saturating_mul(MEMORIES_PER_SLOT))
            .total_tables(n.saturating_mul(TABLES_PER_SLOT))
            // Each request runs on a fiber (so a blocked host call can be abandoned at its
            // deadline): one stack per instance slot.
            .total_stacks(n)
            .max_memories_per_module(1)
            .table_elements(POOLED_TABLE_ELEMENTS)
            // Guard pages and the reservation are virtual; a slot may grow to 4 GiB and the
            // per-route WasmMemoryLimit is enforced by each store's limiter.
            .max_memory_size(1 << 32)
            // Keep up to 1 MiB of touched memory resident per slot: resetting it is cheaper than
            // faulting it in again on the next request.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 16);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// An engine and how it was actually built.
pub struct BuiltEngine {
    /// The engine.
    pub engine: Engine,
    /// Whether the pooling allocator is in use (false after a fallback).
    pub pooling: bool,
    /// Why pooling was abandoned, when it was requested but could not be used.
    pub pooling_fallback: Option<String>,
}

/// Builds the engine for `settings`. When the pooling allocator cannot reserve its address
/// space, falls back to on-demand allocation and says why in `pooling_fallback`.
pub fn build_engine(settings: &EngineSettings) -> Result<BuiltEngine, RuntimeError> {
    let mut pooling_fallback = None;
    if settings.pooling {
        match Engine::new(&wasmtime_config(settings, true)) {
            Ok(engine) => {
                return Ok(BuiltEngine {
                    engine,
                    pooling: true,
                    pooling_fallback: None,
                });
            }
            Err(e) => pooling_fallback = Some(format!("{e:#}")),
        }
    }
    let engine = Engine::new(&wasmtime_config(settings, false))
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok(BuiltEngine {
        engine,
        pooling: false,
        pooling_fallback,
    })
}

/// A `Hasher` that feeds SHA-256, so the compatibility hash is stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex SHA-256 of `Engine::precompile_compatibility_hash` plus this crate's version:
/// a `.cwasm` is loadable by an engine exactly when this string matches.
pub fn compatibility_hash(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(crate::RUNTIME_VERSION.as_bytes());
    hex::encode(hasher.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_level_round_trips() {
        for level in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
            assert_eq!(level.as_str().parse::<OptLevel>().unwrap(), level);
        }
        assert!("fast".parse::<OptLevel>().is_err());
    }

    #[test]
    fn compatibility_hash_is_stable_and_depends_on_settings() {
        let speed = EngineSettings {
            pooling: false,
            ..Default::default()
        };
        let a = build_engine(&speed).unwrap().engine;
        let b = build_engine(&speed).unwrap().engine;
        assert_eq!(compatibility_hash(&a), compatibility_hash(&b));
        assert_eq!(compatibility_hash(&a).len(), 64);
        let none = EngineSettings {
            opt_level: OptLevel::None,
            ..speed.clone()
        };
        let c = build_engine(&none).unwrap().engine;
        assert_ne!(compatibility_hash(&a), compatibility_hash(&c));
    }

    #[test]
    fn parallel_compilation_does_not_change_the_hash() {
        let a = EngineSettings {
            pooling: false,
            ..Default::default()
        };
        let b = EngineSettings {
            parallel_compilation: false,
            ..a.clone()
        };
        let ea = build_engine(&a).unwrap().engine;
        let eb = build_engine(&b).unwrap().engine;
        assert_eq!(compatibility_hash(&ea), compatibility_hash(&eb));
    }
}

//! Compile limits: what a module may ask of the compiler, checked before it is compiled.
//!
//! Compiling is the one thing a module's author gets the server to do for free, at start-up and
//! on every graceful restart, in Apache's parent: a few hundred kilobytes of empty functions cost
//! seconds and gigabytes. [`check_module`] walks the binary's sections (no validation, no code
//! generation: linear in the file's size) and refuses a module over any of [`ModuleLimits`].
//! The server (before compiling, and under `apachectl -t`) and the CLI (before precompiling) call
//! the same function with the same defaults, so a module the CLI accepts is one Apache compiles.
//! Components are walked with every nested core module counted.

use std::fmt;

use wasmparser::{Parser, Payload};

/// Default largest module file: the 20 MB WASI CPython and ~40 MB componentize-py components fit.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 256 << 20;
/// Default most functions (CPython 3.11 has 10,621; a componentize-py component ~25,000).
pub const DEFAULT_MAX_FUNCTIONS: u64 = 100_000;
/// Default largest function body in bytes (CPython's interpreter loop is well under 1 MiB).
pub const DEFAULT_MAX_FUNCTION_SIZE: u64 = 8 << 20;
/// Default most data segments.
pub const DEFAULT_MAX_DATA_SEGMENTS: u64 = 100_000;

/// The limits a module must stay within to be compiled. `0` in a field means its default.
/// (`wasm_module_limits_t` in the C API has this layout.)
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModuleLimits {
    /// Largest module file in bytes.
    pub max_module_size: u64,
    /// Most functions defined (imports not counted), across nested modules of a component.
    pub max_functions: u64,
    /// Largest single function body in bytes.
    pub max_function_size: u64,
    /// Most data segments.
    pub max_data_segments: u64,
}

/// One limit, named as the directive (`WasmModuleLimits`) and the manifest spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `module-size`.
    ModuleSize,
    /// `functions`.
    Functions,
    /// `function-size`.
    FunctionSize,
    /// `data-segments`.
    DataSegments,
}

impl Limit {
    /// Every limit, in the order the docs list them.
    pub const ALL: [Limit; 4] = [
        Limit::ModuleSize,
        Limit::Functions,
        Limit::FunctionSize,
        Limit::DataSegments,
    ];

    /// The key used by `WasmModuleLimits key=value` and the manifest's `module-limits` node.
    pub fn key(self) -> &'static str {
        match self {
            Limit::ModuleSize => "module-size",
            Limit::Functions => "functions",
            Limit::FunctionSize => "function-size",
            Limit::DataSegments => "data-segments",
        }
    }

    /// Whether the value is a size (`64M`) rather than a count.
    pub fn is_size(self) -> bool {
        matches!(self, Limit::ModuleSize | Limit::FunctionSize)
    }

    /// The limit named `key`, if any.
    pub fn from_key(key: &str) -> Option<Limit> {
        Limit::ALL
            .into_iter()
            .find(|l| l.key().eq_ignore_ascii_case(key))
    }
}

impl ModuleLimits {
    /// The value in effect for `limit` (its default when unset).
    pub fn get(&self, limit: Limit) -> u64 {
        let (value, default) = match limit {
            Limit::ModuleSize => (self.max_module_size, DEFAULT_MAX_MODULE_SIZE),
            Limit::Functions => (self.max_functions, DEFAULT_MAX_FUNCTIONS),
            Limit::FunctionSize => (self.max_function_size, DEFAULT_MAX_FUNCTION_SIZE),
            Limit::DataSegments => (self.max_data_segments, DEFAULT_MAX_DATA_SEGMENTS),
        };
        if value == 0 { default } else { value }
    }

    /// Sets `limit` to `value` (0: back to the default).
    pub fn set(&mut self, limit: Limit, value: u64) {
        match limit {
            Limit::ModuleSize => self.max_module_size = value,
            Limit::Functions => self.max_functions = value,
            Limit::FunctionSize => self.max_function_size = value,
            Limit::DataSegments => self.max_data_segments = value,
        }
    }

    /// Parses one `key=value` setting (`functions=50000`, `module-size=64M`) into `self`.
    pub fn apply_setting(&mut self, setting: &str) -> Result<(), String> {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("`{setting}` is not key=value"))?;
        let limit = Limit::from_key(key.trim()).ok_or_else(|| {
            let keys: Vec<&str> = Limit::ALL.iter().map(|l| l.key()).collect();
            format!("unknown limit `{key}` (expected {})", keys.join(", "))
        })?;
        let value = value.trim();
        let parsed = if limit.is_size() {
            crate::units::parse_size(value)?
        } else {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{value}` is not a whole number"))?
        };
        if parsed == 0 {
            return Err(format!("{} must be more than 0", limit.key()));
        }
        self.set(limit, parsed);
        Ok(())
    }
}

/// What a module holds, as counted by [`check_module`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleStats {
    /// File size in bytes.
    pub size: u64,
    /// Functions defined.
    pub functions: u64,
    /// Largest function body in bytes.
    pub largest_function: u64,
    /// Data segments.
    pub data_segments: u64,
}

/// Why a module was refused before compiling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// Over a limit: which, the module's value, the limit.
    Exceeded {
        /// The limit.
        limit: Limit,
        /// What the module has.
        value: u64,
        /// What is allowed.
        max: u64,
    },
    /// The binary could not be walked.
    Malformed(String),
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Exceeded { limit, value, max } => write!(
                f,
                "over the compile limit {}: the module has {value}, the limit is {max} \
                 (raise it with `WasmModuleLimits {}=N` or the manifest's engine.module-limits)",
                limit.key(),
                limit.key()
            ),
            LimitError::Malformed(why) => write!(f, "not a well-formed Wasm binary: {why}"),
        }
    }
}

impl std::error::Error for LimitError {}

/// Walks `bytes` (a core module or a component) and checks it against `limits`.
pub fn check_module(bytes: &[u8], limits: &ModuleLimits) -> Result<ModuleStats, LimitError> {
    let mut stats = ModuleStats {
        size: bytes.len() as u64,
        ..ModuleStats::default()
    };
    over(Limit::ModuleSize, stats.size, limits)?;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| LimitError::Malformed(e.to_string()))? {
            Payload::FunctionSection(section) => {
                stats.functions += u64::from(section.count());
                over(Limit::Functions, stats.functions, limits)?;
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                stats.largest_function = stats.largest_function.max(size);
                over(Limit::FunctionSize, size, limits)?;
            }
            Payload::DataSection(section) => {
                stats.data_segments += u64::from(section.count());
                over(Limit::DataSegments, stats.data_segments, limits)?;
            }
            _ => {}
        }
    }
    Ok(stats)
}

fn over(limit: Limit, value: u64, limits: &ModuleLimits) -> Result<(), LimitError> {
    let max = limits.get(limit);
    if value > max {
        Err(LimitError::Exceeded { limit, value, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions(n: usize) -> Vec<u8> {
        let mut text = String::from("(module");
        for _ in 0..n {
            text.push_str(" (func)");
        }
        text.push(')');
        wat::parse_str(&text).unwrap()
    }

    #[test]
    fn counts_functions_bodies_and_data() {
        let wasm = wat::parse_str(
            r#"(module (memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b")
                (func (drop (i32.const 1))) (func))"#,
        )
        .unwrap();
        let stats = check_module(&wasm, &ModuleLimits::default()).unwrap();
        assert_eq!(stats.functions, 2);
        assert_eq!(stats.data_segments, 2);
        assert!(stats.largest_function >= 4);
        assert_eq!(stats.size, wasm.len() as u64);
    }

    #[test]
    fn refuses_each_limit_by_name() {
        let wasm = functions(10);
        let mut limits = ModuleLimits::default();
        limits.apply_setting("functions=9").unwrap();
        let err = check_module(&wasm, &limits).unwrap_err();
        assert_eq!(
            err,
            LimitError::Exceeded {
                limit: Limit::Functions,
                value: 10,
                max: 9
            }
        );
        assert!(err.to_string().contains("functions"));
        let mut limits = ModuleLimits::default();
        limits.apply_setting("module-size=8").unwrap();
        assert!(matches!(
            check_module(&wasm, &limits),
            Err(LimitError::Exceeded {
                limit: Limit::ModuleSize,
                ..
            })
        ));
    }

    #[test]
    fn defaults_refuse_a_compile_bomb_quickly() {
        let bomb = functions(200_000);
        let err = check_module(&bomb, &ModuleLimits::default()).unwrap_err();
        assert!(matches!(
            err,
            LimitError::Exceeded {
                limit: Limit::Functions,
                value: 200_000,
                ..
            }
        ));
    }

    #[test]
    fn settings_parse_and_refuse_nonsense() {
        let mut limits = ModuleLimits::default();
        limits.apply_setting("function-size=1M").unwrap();
        assert_eq!(limits.get(Limit::FunctionSize), 1 << 20);
        assert_eq!(limits.get(Limit::Functions), DEFAULT_MAX_FUNCTIONS);
        assert!(limits.apply_setting("functions").is_err());
        assert!(limits.apply_setting("speed=1").is_err());
        assert!(limits.apply_setting("functions=0").is_err());
        assert!(limits.apply_setting("functions=many").is_err());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert!(matches!(
            check_module(b"\0asm\x01\0\0\0\x03\xff\xff", &ModuleLimits::default()),
            Err(LimitError::Malformed(_))
        ));
    }
}

//! The directive table: one truth for every `Wasm*` directive and its manifest spelling.
//!
//! For each directive: its name, where it is allowed, its arguments, the value it takes and the
//! validator that checks it, its default, its manifest node, and a one-line doc. `mod_wasm.c`'s
//! setters call [`parse`] through the C API (`wasm_directive_parse`), the CLI's manifest reader
//! calls the same function, and `docs/directives.md` / `docs/manifest.md` are generated from the
//! table ([`directives_markdown`], [`manifest_markdown`]); tests check that the C command table,
//! the docs and this table agree. So a value the manifest accepts is one Apache accepts, refused
//! with the same words.

use std::fmt::Write as _;

use crate::engine::OptLevel;
use crate::module_limits::ModuleLimits;
use crate::outbound::Destination;
use crate::units::{parse_duration, parse_size};

/// Default `WasmTimeout`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Default `WasmMemoryLimit`, in bytes.
pub const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;
/// Default `WasmMaxOpenFiles`: descriptors one request may hold (stdio and folders included).
pub const DEFAULT_MAX_OPEN_FILES: u64 = 256;
/// Default `WasmOutputLimit`, in bytes.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1 << 30;
/// Largest `WasmPoolingMaxInstances`.
pub const MAX_POOLING_INSTANCES: u64 = 100_000;

/// Where a directive may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Server config, virtual hosts and every per-directory section (`OR_ALL`).
    Directory,
    /// The main server config only (`RSRC_CONF` + `GLOBAL_ONLY`).
    Server,
}

/// How Apache splits the arguments (the `AP_INIT_*` macro of the command table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// `AP_INIT_TAKE1`.
    Take1,
    /// `AP_INIT_TAKE2`.
    Take2,
    /// `AP_INIT_TAKE12`.
    Take12,
    /// `AP_INIT_TAKE23`.
    Take23,
    /// `AP_INIT_FLAG` (`On`/`Off`).
    Flag,
    /// `AP_INIT_ITERATE` (each argument on its own).
    Iterate,
}

impl Arity {
    /// The `AP_INIT_*` macro name.
    pub fn macro_name(self) -> &'static str {
        match self {
            Arity::Take1 => "AP_INIT_TAKE1",
            Arity::Take2 => "AP_INIT_TAKE2",
            Arity::Take12 => "AP_INIT_TAKE12",
            Arity::Take23 => "AP_INIT_TAKE23",
            Arity::Flag => "AP_INIT_FLAG",
            Arity::Iterate => "AP_INIT_ITERATE",
        }
    }
}

/// What a directive's value is, and so how it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A file or folder path (non-empty).
    Path,
    /// Any text (may be empty: an argument).
    Text,
    /// A non-empty name (an export, a release id).
    Name,
    /// `On` or `Off`.
    Flag,
    /// A duration above zero, in milliseconds.
    Duration,
    /// A size above zero, in bytes.
    Size,
    /// A whole number within a range.
    Count {
        /// Smallest.
        min: u64,
        /// Largest.
        max: u64,
    },
    /// An optimisation level (value: 0 none, 1 speed, 2 speed-and-size).
    OptLevel,
    /// An environment variable: a name, then its value.
    Env,
    /// A folder mapping: guest path, host path, then `ro` or `rw`.
    MapDir,
    /// A host folder, then `ro` or `rw`.
    Dir,
    /// One compile limit `key=value`.
    ModuleLimit,
    /// One outbound destination `host[:port]`.
    Outbound,
}

/// A default, rendered for the docs the way a person would write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// No default: unset means "not given".
    None,
    /// A duration in milliseconds.
    Millis(u64),
    /// A size in bytes.
    Bytes(u64),
    /// Words (`Off`, `_start`, a rule).
    Text(&'static str),
}

impl DefaultValue {
    /// The default as the docs show it (`60s`, `256M`, `Off`), or `—`.
    pub fn render(self) -> String {
        match self {
            DefaultValue::None => "—".into(),
            DefaultValue::Millis(ms) if ms % 1000 == 0 => format!("{}s", ms / 1000),
            DefaultValue::Millis(ms) => format!("{ms}ms"),
            DefaultValue::Bytes(b) => render_size(b),
            DefaultValue::Text(t) => t.into(),
        }
    }
}

fn render_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "k")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Where a directive lives in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKey {
    /// Not in the manifest (the CLI writes it itself, or only people do).
    None,
    /// A node inside `route { }`.
    Route(&'static str),
    /// A node inside `engine { }`.
    Engine(&'static str),
    /// Written by the CLI from other parts of the manifest.
    Derived(&'static str),
}

/// One directive.
#[derive(Clone, Copy, Debug)]
pub struct Directive {
    /// `WasmTimeout`.
    pub name: &'static str,
    /// Where it may appear.
    pub context: Context,
    /// How Apache splits its arguments.
    pub arity: Arity,
    /// The arguments as the docs show them (`guest-dir host-dir [ro|rw]`).
    pub syntax: &'static str,
    /// What it takes.
    pub value: ValueKind,
    /// Its default.
    pub default: DefaultValue,
    /// Its manifest spelling.
    pub manifest: ManifestKey,
    /// The manifest node's arguments as the docs show them (empty when not in the manifest).
    pub manifest_form: &'static str,
    /// One line: what it does (also the help string in `mod_wasm.c`'s command table).
    pub doc: &'static str,
}

/// Every directive, in the order the docs list them.
pub static DIRECTIVES: &[Directive] = &[
    Directive {
        name: "WasmModule",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "path",
        value: ValueKind::Path,
        default: DefaultValue::None,
        manifest: ManifestKey::Derived("module \"NAME\" source=… and route module=\"NAME\""),
        manifest_form: "",
        doc: "the WebAssembly module (.wasm, or .cwasm with its sidecar) to run",
    },
    Directive {
        name: "WasmRoot",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "dir",
        value: ValueKind::Path,
        default: DefaultValue::None,
        manifest: ManifestKey::None,
        manifest_form: "",
        doc: "base folder for relative WasmModule paths",
    },
    Directive {
        name: "WasmArg",
        context: Context::Directory,
        arity: Arity::Iterate,
        syntax: "arg…",
        value: ValueKind::Text,
        default: DefaultValue::None,
        manifest: ManifestKey::Route("arg"),
        manifest_form: "`\"VALUE\"`",
        doc: "arguments passed to the module after argv[0]",
    },
    Directive {
        name: "WasmEnv",
        context: Context::Directory,
        arity: Arity::Take2,
        syntax: "name value",
        value: ValueKind::Env,
        default: DefaultValue::None,
        manifest: ManifestKey::Route("env"),
        manifest_form: "`\"NAME\" \"VALUE\"`",
        doc: "an environment variable for the module: name and value",
    },
    Directive {
        name: "WasmDir",
        context: Context::Directory,
        arity: Arity::Take12,
        syntax: "host-dir [ro|rw]",
        value: ValueKind::Dir,
        default: DefaultValue::Text("rw"),
        manifest: ManifestKey::Route("dir"),
        manifest_form: "`\"HOST-DIR\"` `[readonly=#true]` (relative: from the manifest's folder)",
        doc: "a host folder preopened at the same path inside the module; ro: read-only",
    },
    Directive {
        name: "WasmMapDir",
        context: Context::Directory,
        arity: Arity::Take23,
        syntax: "guest-dir host-dir [ro|rw]",
        value: ValueKind::MapDir,
        default: DefaultValue::Text("rw"),
        manifest: ManifestKey::Route("map-dir"),
        manifest_form: "`\"GUEST\" \"HOST-DIR\"` `[readonly=#true]` (relative: from the manifest's folder)",
        doc: "a host folder preopened inside the module: guest path, host path, [ro|rw]",
    },
    Directive {
        name: "WasmEnableCGI",
        context: Context::Directory,
        arity: Arity::Flag,
        syntax: "On|Off",
        value: ValueKind::Flag,
        default: DefaultValue::Text("Off"),
        manifest: ManifestKey::Route("cgi"),
        manifest_form: "`#true` / `#false`",
        doc: "On: CGI variables in the environment and CGI headers on stdout",
    },
    Directive {
        name: "WasmMapCGIFileNames",
        context: Context::Directory,
        arity: Arity::Flag,
        syntax: "On|Off",
        value: ValueKind::Flag,
        default: DefaultValue::Text("Off"),
        manifest: ManifestKey::Route("map-cgi-file-names"),
        manifest_form: "`#true` / `#false`",
        doc: "On: SCRIPT_FILENAME, PATH_TRANSLATED, DOCUMENT_ROOT use guest paths (dropped when outside every mapping)",
    },
    Directive {
        name: "WasmEntryPoint",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "name",
        value: ValueKind::Name,
        default: DefaultValue::Text("_start"),
        manifest: ManifestKey::Route("entry-point"),
        manifest_form: "`\"NAME\"`",
        doc: "the exported function to call (default _start)",
    },
    Directive {
        name: "WasmTimeout",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "duration",
        value: ValueKind::Duration,
        default: DefaultValue::Millis(DEFAULT_TIMEOUT_MS),
        manifest: ManifestKey::Route("timeout"),
        manifest_form: "duration: `\"500ms\"`, `\"5s\"`, `\"2mi\"`, `\"1h\"`, or a bare number of seconds",
        doc: "time limit per request, computing or blocked, e.g. 500ms, 5s, 2mi (default 60s)",
    },
    Directive {
        name: "WasmMemoryLimit",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "size",
        value: ValueKind::Size,
        default: DefaultValue::Bytes(DEFAULT_MEMORY_LIMIT),
        manifest: ManifestKey::Route("memory-limit"),
        manifest_form: "size: `\"64M\"`, `\"1G\"`, `\"512k\"`, or a number of bytes",
        doc: "linear memory limit per request, e.g. 64M (default 256M)",
    },
    Directive {
        name: "WasmOutputLimit",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "size",
        value: ValueKind::Size,
        default: DefaultValue::Bytes(DEFAULT_OUTPUT_LIMIT),
        manifest: ManifestKey::Route("output-limit"),
        manifest_form: "size: `\"16M\"`, `\"1G\"`, or a number of bytes",
        doc: "response body limit per request, e.g. 16M (default 1G)",
    },
    Directive {
        name: "WasmMaxOpenFiles",
        context: Context::Directory,
        arity: Arity::Take1,
        syntax: "count",
        value: ValueKind::Count {
            min: 4,
            max: 65_536,
        },
        default: DefaultValue::Text("256"),
        manifest: ManifestKey::None,
        manifest_form: "",
        doc: "descriptors a preview 1 module may hold open per request, stdio and folders included; EMFILE beyond (default 256)",
    },
    Directive {
        name: "WasmAllowOutbound",
        context: Context::Directory,
        arity: Arity::Iterate,
        syntax: "host[:port]…",
        value: ValueKind::Outbound,
        default: DefaultValue::Text("none"),
        manifest: ManifestKey::Route("allow-outbound"),
        manifest_form: "`\"HOST[:PORT]\"`, one node per destination",
        doc: "outgoing HTTP a component may make: host[:port] (no port: 80 and 443); default none",
    },
    Directive {
        name: "WasmEngineOptLevel",
        context: Context::Server,
        arity: Arity::Take1,
        syntax: "none|speed|speed-and-size",
        value: ValueKind::OptLevel,
        default: DefaultValue::Text("speed"),
        manifest: ManifestKey::Engine("opt-level"),
        manifest_form: "`\"none\"`, `\"speed\"` or `\"speed-and-size\"`",
        doc: "Cranelift optimisation: none, speed or speed-and-size (default speed)",
    },
    Directive {
        name: "WasmPooling",
        context: Context::Server,
        arity: Arity::Flag,
        syntax: "On|Off",
        value: ValueKind::Flag,
        default: DefaultValue::Text("On"),
        manifest: ManifestKey::Engine("pooling"),
        manifest_form: "`#true` / `#false`",
        doc: "pooling instance allocator (default On)",
    },
    Directive {
        name: "WasmPoolingMaxInstances",
        context: Context::Server,
        arity: Arity::Take1,
        syntax: "n",
        value: ValueKind::Count {
            min: 1,
            max: MAX_POOLING_INSTANCES,
        },
        default: DefaultValue::Text("threads per child + 8"),
        manifest: ManifestKey::Engine("pooling-max-instances"),
        manifest_form: "whole number from 1 to 100000",
        doc: "instance slots per process, 1 to 100000 (default: threads per child + 8)",
    },
    Directive {
        name: "WasmCacheDir",
        context: Context::Server,
        arity: Arity::Take1,
        syntax: "dir",
        value: ValueKind::Path,
        default: DefaultValue::None,
        manifest: ManifestKey::Engine("cache-dir"),
        manifest_form: "folder (relative: from the manifest's folder)",
        doc: "folder for compiled modules, reused across starts",
    },
    Directive {
        name: "WasmRelease",
        context: Context::Server,
        arity: Arity::Take1,
        syntax: "id",
        value: ValueKind::Name,
        default: DefaultValue::None,
        manifest: ManifestKey::Derived("written by `mod-wasm build`: the bundle's id"),
        manifest_form: "",
        doc: "the release (bundle id) this configuration serves, shown by wasm-status",
    },
    Directive {
        name: "WasmModuleLimits",
        context: Context::Server,
        arity: Arity::Iterate,
        syntax: "key=value…",
        value: ValueKind::ModuleLimit,
        default: DefaultValue::Text(
            "module-size=256M functions=100000 function-size=8M data-segments=100000",
        ),
        manifest: ManifestKey::Engine("module-limits"),
        manifest_form: "properties, each optional: `module-size=SIZE`, `functions=N`, `function-size=SIZE`, `data-segments=N`",
        doc: "compile limits: module-size=SIZE functions=N function-size=SIZE data-segments=N",
    },
];

/// The directive called `name` (case-insensitive, as Apache matches them).
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The directive a manifest route or engine node stands for.
pub fn for_manifest(key: ManifestKey) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.manifest == key)
}

/// Checks the arguments of directive `name` as Apache split them; returns the value numeric
/// directives store (milliseconds, bytes, a count, an opt-level, 1/0 for a flag; 0 otherwise).
/// The error is the sentence both `apachectl -t` and `mod-wasm check` show.
pub fn parse(name: &str, args: &[&str]) -> Result<u64, String> {
    let directive = find(name).ok_or_else(|| format!("`{name}` is not a mod_wasm directive"))?;
    directive.parse(args)
}

impl Directive {
    /// Checks arguments for this directive (see [`parse`]).
    pub fn parse(&self, args: &[&str]) -> Result<u64, String> {
        let (least, most) = match self.arity {
            Arity::Take1 | Arity::Flag | Arity::Iterate => (1, 1),
            Arity::Take2 => (2, 2),
            Arity::Take12 => (1, 2),
            Arity::Take23 => (2, 3),
        };
        if args.len() < least || args.len() > most {
            return Err(format!("takes {}", self.syntax));
        }
        let first = args[0];
        match self.value {
            ValueKind::Text => Ok(0),
            ValueKind::Path | ValueKind::Name => {
                if first.is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(0)
                }
            }
            ValueKind::Flag => match first.to_ascii_lowercase().as_str() {
                "on" => Ok(1),
                "off" => Ok(0),
                _ => Err(format!("`{first}` is not On or Off")),
            },
            ValueKind::Duration => {
                let ms = parse_duration(first)?.as_millis();
                positive(u64::try_from(ms).unwrap_or(u64::MAX), first)
            }
            ValueKind::Size => positive(parse_size(first)?, first),
            ValueKind::Count { min, max } => match first.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{first}` is not a whole number from {min} to {max}"
                )),
            },
            ValueKind::OptLevel => {
                first
                    .parse::<OptLevel>()
                    .map(|level| level as u64)
                    .map_err(|_| {
                        format!(
                            "`{first}` is not an opt-level (expected none, speed or speed-and-size)"
                        )
                    })
            }
            ValueKind::Env => check_env_name(first).map(|()| 0),
            ValueKind::MapDir => {
                if first.is_empty() || args[1].is_empty() {
                    return Err("the guest and host folders must not be empty".into());
                }
                access_mode(args.get(2).copied())
            }
            ValueKind::Dir => {
                if first.is_empty() {
                    return Err("the folder must not be empty".into());
                }
                access_mode(args.get(1).copied())
            }
            ValueKind::ModuleLimit => ModuleLimits::default().apply_setting(first).map(|()| 0),
            ValueKind::Outbound => Destination::parse(first).map(|_| 0),
        }
    }
}

fn positive(value: u64, text: &str) -> Result<u64, String> {
    if value == 0 {
        Err(format!("`{text}` must be more than 0"))
    } else {
        Ok(value)
    }
}

/// 1 for `ro`, 0 for `rw` or nothing.
fn access_mode(mode: Option<&str>) -> Result<u64, String> {
    match mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("rw") => Ok(0),
        Some("ro") => Ok(1),
        Some(_) => Err(format!(
            "the access mode must be ro or rw, not `{}`",
            mode.unwrap_or_default()
        )),
    }
}

/// An environment variable name: non-empty, no `=`, no whitespace, no control bytes.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.contains('=')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(format!(
            "`{name}` is not a usable environment variable name (non-empty, no `=`, no spaces)"
        ))
    } else {
        Ok(())
    }
}

/// The generated directive tables of `docs/directives.md`.
pub fn directives_markdown() -> String {
    let mut out = String::new();
    for (context, title) in [
        (Context::Directory, "Per-directory directives"),
        (
            Context::Server,
            "Server-wide directives (main server config only)",
        ),
    ] {
        let _ = writeln!(out, "### {title}\n");
        out.push_str("| directive | arguments | default | manifest | meaning |\n");
        out.push_str("|---|---|---|---|---|\n");
        for d in DIRECTIVES.iter().filter(|d| d.context == context) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                d.name,
                cell(d.syntax),
                cell(&d.default.render()),
                manifest_cell(d.manifest),
                cell(d.doc)
            );
        }
        out.push('\n');
    }
    out
}

/// The generated `route { }` (`route` true) or `engine { }` settings table of `docs/manifest.md`.
pub fn manifest_markdown(route: bool) -> String {
    let mut out = String::new();
    out.push_str("| child node | arguments | directive | default | meaning |\n");
    out.push_str("|---|---|---|---|---|\n");
    for d in DIRECTIVES {
        let node = match (d.manifest, route) {
            (ManifestKey::Route(n), true) | (ManifestKey::Engine(n), false) => n,
            _ => continue,
        };
        let _ = writeln!(
            out,
            "| `{node}` | {} | `{}` | {} | {} |",
            cell(d.manifest_form),
            d.name,
            cell(&d.default.render()),
            cell(d.doc)
        );
    }
    out
}

fn manifest_cell(key: ManifestKey) -> String {
    match key {
        ManifestKey::None => "—".into(),
        ManifestKey::Route(n) => format!("route `{n}`"),
        ManifestKey::Engine(n) => format!("engine `{n}`"),
        ManifestKey::Derived(how) => cell(how),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_case_insensitively() {
        for (i, d) in DIRECTIVES.iter().enumerate() {
            assert!(d.name.starts_with("Wasm"), "{}", d.name);
            assert!(
                DIRECTIVES[i + 1..].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
            assert_eq!(find(&d.name.to_lowercase()).unwrap().name, d.name);
        }
        assert!(find("WasmNope").is_none());
    }

    #[test]
    fn defaults_parse_to_what_the_runtime_uses() {
        assert_eq!(parse("WasmTimeout", &["60s"]), Ok(DEFAULT_TIMEOUT_MS));
        for d in DIRECTIVES {
            if matches!(d.default, DefaultValue::Millis(_) | DefaultValue::Bytes(_)) {
                let text = d.default.render();
                let expected = match d.default {
                    DefaultValue::Millis(v) | DefaultValue::Bytes(v) => v,
                    _ => unreachable!(),
                };
                assert_eq!(d.parse(&[&text]), Ok(expected), "{}", d.name);
            }
        }
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert_eq!(parse("WasmTimeout", &["2mi"]), Ok(120_000));
        assert_eq!(parse("WasmTimeout", &["500ms"]), Ok(500));
        assert_eq!(parse("WasmTimeout", &["5"]), Ok(5_000));
        assert!(
            parse("WasmTimeout", &["0"])
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(
            parse("WasmMemoryLimit", &["12Q"])
                .unwrap_err()
                .contains("unit")
        );
        assert!(
            parse("WasmMemoryLimit", &["0"])
                .unwrap_err()
                .contains("more than 0")
        );
        assert_eq!(parse("WasmPoolingMaxInstances", &["100000"]), Ok(100_000));
        assert!(parse("WasmPoolingMaxInstances", &["100001"]).is_err());
        assert!(parse("WasmPoolingMaxInstances", &["0"]).is_err());
        assert_eq!(parse("WasmEngineOptLevel", &["speed-and-size"]), Ok(2));
        assert!(parse("WasmEngineOptLevel", &["fast"]).is_err());
        assert!(parse("WasmEnv", &["A B", "x"]).is_err());
        assert!(parse("WasmEnv", &["A=B", "x"]).is_err());
        assert!(parse("WasmEnv", &["", "x"]).is_err());
        assert_eq!(parse("WasmEnv", &["NAME", ""]), Ok(0));
        assert_eq!(parse("WasmMapDir", &["/g", "/h", "RO"]), Ok(1));
        assert!(parse("WasmMapDir", &["/g", "/h", "rx"]).is_err());
        assert!(parse("WasmMapDir", &["/g"]).is_err());
        assert_eq!(parse("WasmDir", &["/h"]), Ok(0));
        assert_eq!(parse("WasmEnableCGI", &["on"]), Ok(1));
        assert!(parse("WasmModuleLimits", &["speed=1"]).is_err());
        assert!(parse("WasmEntryPoint", &[""]).is_err());
    }

    #[test]
    fn docs_render_every_directive() {
        let md = directives_markdown();
        for d in DIRECTIVES {
            assert!(md.contains(&format!("`{}`", d.name)), "{}", d.name);
        }
        assert!(manifest_markdown(true).contains("| `timeout` | duration"));
        assert!(manifest_markdown(false).contains("| `opt-level` |"));
        assert!(!manifest_markdown(false).contains("`timeout`"));
    }
}

//! Fuzz target: a `bundle.lock` from a registry — the lock check (`cli/src/fleet/lock_check.rs`)
//! and the renderer (`cli/src/render/`, the real `templates/wasm.conf.j2`) on arbitrary JSON.
//!
//! Properties, for any bytes that read as a `BundleLock`:
//! - a lock the check accepts renders, and the rendered `wasm.conf`, read line by line the way
//!   Apache reads it (`ap_getword_conf`: quotes, `\"` and `\\`), is exactly the directives the
//!   lock asks for with exactly its values, in the template's order — no line, word or value more;
//!   every other line is a comment;
//! - whatever the check says, a rendering that succeeds has only the template's own lines: every
//!   non-comment line is one of the model's (no value added a line, in a comment or anywhere), and
//!   rendering fails exactly when a printed value holds a control character;
//! - a refusal names a field and says why.
//!
//! The crate stays free of wasmtime: the files are included as they are, at the module paths
//! they have in their crates (`wasm_runtime::directives` is this crate, through `extern crate
//! self`); only the runtime's `OptLevel` (in `engine.rs`, which needs wasmtime) and the CLI's
//! `WasmKind` (in `sources/local.rs`) are stood in for, with the same spellings.
#![no_main]

extern crate self as wasm_runtime;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../runtime/src/directives.rs"]
pub mod directives;
#[allow(dead_code)]
#[path = "../../runtime/src/module_limits.rs"]
pub mod module_limits;
#[allow(dead_code)]
#[path = "../../runtime/src/outbound.rs"]
pub mod outbound;
#[allow(dead_code)]
#[path = "../../runtime/src/units.rs"]
pub mod units;

/// The runtime's `OptLevel` (its `engine.rs` needs wasmtime): the spellings `WasmEngineOptLevel`
/// takes.
pub mod engine {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum OptLevel {
        None,
        Speed,
        SpeedAndSize,
    }

    impl std::str::FromStr for OptLevel {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            match s.to_ascii_lowercase().as_str() {
                "none" => Ok(OptLevel::None),
                "speed" => Ok(OptLevel::Speed),
                "speed-and-size" => Ok(OptLevel::SpeedAndSize),
                _ => Err(format!("unknown opt-level `{s}`")),
            }
        }
    }
}

// The CLI's files, reachable at the module paths they have in the CLI (`crate::manifest::…`).
// (`#[path]` inside an inline module would go through a folder that does not exist.)
#[allow(dead_code)]
#[path = "../../cli/src/bundle/lock.rs"]
pub mod cli_bundle_lock;
#[path = "../../cli/src/fleet/lock_check.rs"]
pub mod cli_fleet_lock_check;
#[allow(dead_code)]
#[path = "../../cli/src/manifest/settings.rs"]
pub mod cli_manifest_settings;
#[allow(dead_code)]
#[path = "../../cli/src/manifest/value_rules.rs"]
pub mod cli_manifest_value_rules;

pub mod manifest {
    pub use crate::cli_manifest_settings as settings;
    pub use crate::cli_manifest_value_rules as value_rules;
    pub use settings::{HostDir, MapDir, RouteSettings};
}

pub mod bundle {
    pub use crate::cli_bundle_lock as lock;
}

pub mod fleet {
    pub use crate::cli_fleet_lock_check as lock_check;
}

pub mod sources {
    pub mod local {
        /// The CLI's `WasmKind` (its file reads modules from disk).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum WasmKind {
            Module,
            Component,
        }
    }
}

#[allow(dead_code)]
#[path = "../../cli/src/render/mod.rs"]
pub mod render;

use bundle::lock::BundleLock;
use render::{EngineContext, RouteContext, Templates, WasmConfContext};

const SO: &str = "/usr/lib/apache2/modules/mod_wasm.so";
const BUNDLE: &str = "/var/lib/mod-wasm/app/releases/r";
const RELEASE: &str = "bundle-0123456789ab";

/// The context `fleet::render::context` makes of `lock` (module files under [`BUNDLE`]).
fn context(lock: &BundleLock) -> WasmConfContext {
    WasmConfContext {
        app: lock.app.clone(),
        version: "mod-wasm 0.0.0".into(),
        manifest: "oci://127.0.0.1:5000/fleet/app:stable@sha256:00".into(),
        bundle: BUNDLE.into(),
        mod_wasm_so: SO.into(),
        engine: EngineContext {
            opt_level: lock.engine.opt_level.clone(),
            pooling: Some(lock.engine.pooling),
            pooling_max_instances: (lock.engine.pooling_max_instances != 0)
                .then_some(lock.engine.pooling_max_instances),
            cache_dir: lock.engine.cache_dir.clone(),
            module_limits: lock.engine.module_limits.clone(),
        },
        routes: lock
            .routes
            .iter()
            .map(|r| RouteContext {
                path: r.path.clone(),
                module: r.module.clone(),
                module_path: format!("{BUNDLE}/modules/{}.cwasm", r.module),
                settings: r.settings.clone(),
            })
            .collect(),
        release: RELEASE.into(),
        status: lock.status.clone(),
    }
}

fn on_off(b: bool) -> String {
    if b { "On" } else { "Off" }.into()
}

fn line(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Every directive line `wasm.conf.j2` writes for `c`, as Apache's words, in order.
fn model(c: &WasmConfContext) -> Vec<Vec<String>> {
    let mut lines = vec![
        line(&["<IfModule", "!wasm_module"]),
        line(&["LoadModule", "wasm_module", SO]),
        line(&["</IfModule>"]),
        line(&["WasmEngineOptLevel", &c.engine.opt_level]),
    ];
    if let Some(p) = c.engine.pooling {
        lines.push(vec!["WasmPooling".into(), on_off(p)]);
    }
    if let Some(n) = c.engine.pooling_max_instances {
        lines.push(vec!["WasmPoolingMaxInstances".into(), n.to_string()]);
    }
    if let Some(d) = &c.engine.cache_dir {
        lines.push(line(&["WasmCacheDir", d]));
    }
    if !c.engine.module_limits.is_empty() {
        let mut l = line(&["WasmModuleLimits"]);
        l.extend(c.engine.module_limits.iter().cloned());
        lines.push(l);
    }
    lines.push(line(&["WasmRelease", &c.release]));
    for r in &c.routes {
        let s = &r.settings;
        lines.push(line(&["<Location", &r.path]));
        lines.push(line(&["SetHandler", "wasm-handler"]));
        lines.push(line(&["WasmModule", &r.module_path]));
        for a in &s.args {
            lines.push(line(&["WasmArg", a]));
        }
        for (n, v) in &s.env {
            lines.push(line(&["WasmEnv", n, v]));
        }
        for d in &s.dirs {
            let mut l = line(&["WasmDir", &d.host]);
            if d.readonly {
                l.push("ro".into());
            }
            lines.push(l);
        }
        for m in &s.map_dirs {
            let mut l = line(&["WasmMapDir", &m.guest, &m.host]);
            if m.readonly {
                l.push("ro".into());
            }
            lines.push(l);
        }
        if let Some(b) = s.cgi {
            lines.push(vec!["WasmEnableCGI".into(), on_off(b)]);
        }
        if let Some(b) = s.map_cgi_file_names {
            lines.push(vec!["WasmMapCGIFileNames".into(), on_off(b)]);
        }
        for (name, value) in [
            ("WasmEntryPoint", &s.entry_point),
            ("WasmTimeout", &s.timeout),
            ("WasmMemoryLimit", &s.memory_limit),
            ("WasmOutputLimit", &s.output_limit),
        ] {
            if let Some(v) = value {
                lines.push(line(&[name, v]));
            }
        }
        for d in &s.allow_outbound {
            lines.push(line(&["WasmAllowOutbound", d]));
        }
        lines.push(line(&["</Location>"]));
    }
    if let Some(status) = &c.status {
        lines.push(line(&["<Location", status]));
        lines.push(line(&["SetHandler", "wasm-status"]));
        lines.push(line(&["Require", "expr", "-R '127.0.0.0/8' || -R '::1'"]));
        lines.push(line(&["</Location>"]));
    }
    lines
}

/// One line split into words as Apache's `ap_getword_conf` does (a section's `<Name … >`: the
/// last `>` taken off first, as `ap_build_config` does).
fn words(text: &str) -> Vec<String> {
    let mut rest = text.trim();
    if rest.starts_with('<') && !rest.starts_with("</") {
        rest = rest
            .strip_suffix('>')
            .expect("a section line ends with `>`");
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let quote = bytes[i];
        let (start, quoted) = if quote == b'"' || quote == b'\'' {
            (i + 1, Some(quote))
        } else {
            (i, None)
        };
        let mut end = start;
        let mut word = Vec::new();
        while end < bytes.len() {
            let b = bytes[end];
            match quoted {
                Some(q) if b == q => break,
                None if b.is_ascii_whitespace() => break,
                _ => {}
            }
            let escapable = |n: u8| n == b'\\' || quoted == Some(n);
            if b == b'\\' && end + 1 < bytes.len() && escapable(bytes[end + 1]) {
                word.push(bytes[end + 1]);
                end += 2;
            } else {
                word.push(b);
                end += 1;
            }
        }
        out.push(String::from_utf8(word).expect("words of UTF-8 text"));
        i = if quoted.is_some() && end < bytes.len() {
            end + 1
        } else {
            end
        };
    }
    out
}

/// The rendered file's non-comment lines, and whether every other line is a comment or blank.
fn directive_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .collect()
}

fn printed_values(c: &WasmConfContext) -> Vec<String> {
    let mut v = vec![c.app.clone(), c.engine.opt_level.clone()];
    v.extend(c.engine.cache_dir.clone());
    v.extend(c.engine.module_limits.iter().cloned());
    v.extend(c.status.clone());
    for r in &c.routes {
        let s = &r.settings;
        v.extend([r.path.clone(), r.module.clone(), r.module_path.clone()]);
        v.extend(s.args.iter().cloned());
        v.extend(s.env.iter().flat_map(|(a, b)| [a.clone(), b.clone()]));
        v.extend(s.dirs.iter().map(|d| d.host.clone()));
        v.extend(
            s.map_dirs
                .iter()
                .flat_map(|m| [m.guest.clone(), m.host.clone()]),
        );
        v.extend(
            s.entry_point
                .iter()
                .chain(&s.timeout)
                .chain(&s.memory_limit)
                .cloned(),
        );
        v.extend(s.output_limit.iter().chain(&s.allow_outbound).cloned());
    }
    v
}

fn check(templates: &Templates, lock: &BundleLock) {
    let verdict = fleet::lock_check::check(lock);
    if let Err(e) = &verdict {
        assert!(!e.field.is_empty() && !e.why.is_empty(), "{e:?}");
    }
    let c = context(lock);
    let rendered = templates.wasm_conf(&c);
    let has_control = printed_values(&c)
        .iter()
        .any(|v| v.chars().any(char::is_control));
    assert_eq!(
        rendered.is_err(),
        has_control,
        "rendering fails exactly for a control character: {rendered:?}"
    );
    let expected = model(&c);
    if let Ok(text) = &rendered {
        // No value added a line: as many directive lines as the template writes.
        assert_eq!(
            directive_lines(text).len(),
            expected.len(),
            "a value added or removed a line:\n{text}"
        );
    }
    if verdict.is_ok() {
        let text = rendered.expect("an accepted lock renders");
        let got: Vec<Vec<String>> = directive_lines(&text).into_iter().map(words).collect();
        assert_eq!(got, expected, "the file says other than the lock:\n{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static TEMPLATES: Templates = Templates::load(None).expect("the built-in templates");
    }
    let Ok(lock) = serde_json::from_slice::<BundleLock>(data) else {
        return;
    };
    TEMPLATES.with(|t| check(t, &lock));
});

//! KDL text -> [`Manifest`]: syntax errors (the kdl crate's own diagnostics) and schema
//! problems (unknown nodes and properties, argument counts and types, bad values).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};
use miette::SourceSpan;
use wasm_runtime::engine::OptLevel;
use wasm_runtime::module_limits::{Limit, ModuleLimits};
use wasm_runtime::units::{parse_duration, parse_size};

use super::reader::NodeReader;
use super::schema::{
    DIR_PROPS, ENGINE_NODES, MODULE_PROPS, ROUTE_NODES, ROUTE_PROPS, SERVER_PROPS, TOP_NODES,
    home_of,
};
use super::suggest::did_you_mean;
use super::{
    EngineBlock, HostDir, Manifest, MapDir, ModuleDecl, ModuleLimitsDecl, RouteDecl, RouteSettings,
    ServerBlock, Spanned,
};
use crate::problem::Problem;
use crate::sources::{ModuleSource, join_clean};

/// Codes of problems that leave no document to validate.
pub const FATAL: &[&str] = &["manifest::syntax", "manifest::too-deep"];

/// Parses `text`; returns the (possibly partial) model and the problems found. Recursion in
/// the KDL parser is bounded by [`super::depth::check`] first.
pub fn parse(path: &Path, dir: &Path, text: Arc<String>) -> (Manifest, Vec<Problem>) {
    let mut manifest = Manifest {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        text: text.clone(),
        app: None,
        engine: EngineBlock::default(),
        server: ServerBlock::default(),
        modules: Vec::new(),
        routes: Vec::new(),
    };
    let mut problems = Vec::new();
    if let Some(problem) = super::depth::check(&text) {
        problems.push(problem);
        return (manifest, problems);
    }
    let doc = match text.parse::<KdlDocument>() {
        Ok(doc) => doc,
        Err(err) => {
            for d in err.diagnostics {
                problems.push(
                    Problem::error(
                        "manifest::syntax",
                        d.message.unwrap_or_else(|| "invalid KDL".to_string()),
                        d.span,
                        d.label.unwrap_or_else(|| "here".to_string()),
                    )
                    .with_help_opt(d.help),
                );
            }
            return (manifest, problems);
        }
    };
    let mut parser = Parser {
        text: &text,
        dir,
        problems: &mut problems,
        seen: Vec::new(),
        routes_seen: 0,
    };
    for node in doc.nodes() {
        parser.top_node(node, &mut manifest);
    }
    (manifest, problems)
}

struct Parser<'a> {
    text: &'a str,
    dir: &'a Path,
    problems: &'a mut Vec<Problem>,
    /// Single-use nodes seen so far (name, scope, span), for duplicate reports.
    seen: Vec<(String, usize, SourceSpan)>,
    /// Route nodes met so far: each route is its own scope for single-use children.
    routes_seen: usize,
}

impl<'a> Parser<'a> {
    fn reader<'n>(&'n mut self, node: &'n KdlNode) -> NodeReader<'n> {
        NodeReader::new(node, self.text, self.problems)
    }

    /// Reports a second occurrence of a single-use node within `scope`; true when first.
    fn once(&mut self, node: &KdlNode, scope: usize) -> bool {
        let name = node.name().value().to_string();
        if let Some((_, _, first)) = self.seen.iter().find(|(n, s, _)| *n == name && *s == scope) {
            let first = *first;
            self.problems.push(
                Problem::error(
                    "manifest::duplicate-node",
                    format!("`{name}` is given more than once"),
                    node.name().span(),
                    "given again here",
                )
                .with_related(first, "first given here"),
            );
            return false;
        }
        self.seen.push((name, scope, node.name().span()));
        true
    }

    fn unknown_node(&mut self, node: &KdlNode, here: &str, known: &[&str]) {
        let name = node.name().value();
        let hint = did_you_mean(name, known).or_else(|| match home_of(name) {
            Some("top level") => Some(format!(
                "`{name}` belongs at the top level, not inside `{here}`"
            )),
            Some(home) => Some(format!("`{name}` goes inside a `{home} {{ }}` block")),
            None => Some(format!("known here: {}", known.join(", "))),
        });
        let place = if here == "top level" {
            "at the top level".to_string()
        } else {
            format!("inside `{here}`")
        };
        self.problems.push(
            Problem::error(
                "manifest::unknown-node",
                format!("unknown node `{name}` {place}"),
                node.name().span(),
                "unknown node",
            )
            .with_help_opt(hint),
        );
    }

    fn top_node(&mut self, node: &KdlNode, manifest: &mut Manifest) {
        match node.name().value() {
            "app" => {
                let first = self.once(node, 0);
                let mut r = self.reader(node);
                let name = if r.expect_args(1, "app \"NAME\"") {
                    r.string_arg(0, "app name")
                } else {
                    None
                };
                r.finish(&[], false);
                if let Some(name) = name {
                    if name.value.trim().is_empty() {
                        self.problems.push(Problem::error(
                            "manifest::empty-value",
                            "the app name is empty",
                            name.span,
                            "empty",
                        ));
                    } else if first {
                        manifest.app = Some(name);
                    }
                } else if first && manifest.app.is_none() {
                    // Present but malformed: do not also report it missing.
                    manifest.app = Some(Spanned::new(String::new(), node.name().span()));
                }
            }
            "engine" => {
                self.once(node, 0);
                let mut r = self.reader(node);
                r.expect_args(0, "engine { opt-level \"speed\" }");
                r.finish(&[], true);
                for child in node.iter_children() {
                    self.engine_node(child, &mut manifest.engine);
                }
            }
            "server" => {
                self.once(node, 0);
                let mut r = self.reader(node);
                r.expect_args(0, "server listen=\"127.0.0.1:8080\"");
                let listen = r.string_prop("listen");
                r.finish(SERVER_PROPS, false);
                if let Some(listen) = listen {
                    if let Err(why) = check_listen(&listen.value) {
                        self.problems.push(
                            Problem::error("manifest::listen", why, listen.span, "not HOST:PORT")
                                .with_help(
                                    "for example: listen=\"127.0.0.1:8080\" or listen=\"8080\"",
                                ),
                        );
                    } else {
                        manifest.server.listen = Some(listen);
                    }
                }
            }
            "module" => {
                if let Some(module) = self.module_node(node) {
                    manifest.modules.push(module);
                }
            }
            "route" => {
                self.routes_seen += 1;
                let scope = self.routes_seen;
                if let Some(route) = self.route_node(node, scope) {
                    manifest.routes.push(route);
                }
            }
            _ => self.unknown_node(node, "top level", TOP_NODES),
        }
    }

    fn engine_node(&mut self, node: &KdlNode, engine: &mut EngineBlock) {
        let name = node.name().value();
        if !ENGINE_NODES.contains(&name) {
            self.unknown_node(node, "engine", ENGINE_NODES);
            return;
        }
        self.once(node, usize::MAX);
        if name == "module-limits" {
            engine.module_limits = Some(self.module_limits_node(node));
            return;
        }
        let dir = self.dir.to_path_buf();
        let mut r = self.reader(node);
        match name {
            "opt-level" => {
                if r.expect_args(1, "opt-level \"speed\"")
                    && let Some(level) = r.string_arg(0, "level")
                {
                    match level.value.parse::<OptLevel>() {
                        Ok(l) => engine.opt_level = Some(l),
                        Err(_) => {
                            let hint =
                                did_you_mean(&level.value, &["none", "speed", "speed-and-size"])
                                    .unwrap_or_else(|| {
                                        "one of: none, speed, speed-and-size".into()
                                    });
                            r.push(
                                Problem::error(
                                    "manifest::opt-level",
                                    format!("unknown opt-level `{}`", level.value),
                                    level.span,
                                    "not an opt-level",
                                )
                                .with_help(hint),
                            );
                        }
                    }
                }
            }
            "pooling" => {
                if r.expect_args(1, "pooling #true") {
                    engine.pooling = r.bool_arg(0, "");
                }
            }
            "pooling-max-instances" => {
                if r.expect_args(1, "pooling-max-instances 64") {
                    engine.pooling_max_instances = r.u32_arg(0, "");
                }
            }
            "cache-dir" => {
                if r.expect_args(1, "cache-dir \"/var/cache/mod-wasm\"") {
                    engine.cache_dir = r.string_arg(0, "folder").map(|d| join_clean(&dir, d.value));
                }
            }
            _ => unreachable!("checked against ENGINE_NODES"),
        }
        r.finish(&[], false);
    }

    /// `module-limits functions=50000 function-size="8M" …`: each value checked by the runtime's
    /// own parser of `WasmModuleLimits` settings.
    fn module_limits_node(&mut self, node: &KdlNode) -> ModuleLimitsDecl {
        let mut r = self.reader(node);
        r.expect_args(0, "module-limits functions=50000 function-size=\"8M\"");
        let mut decl = ModuleLimitsDecl::default();
        let mut limits = ModuleLimits::default();
        for limit in Limit::ALL {
            let key = limit.key();
            let Some(value) = r.text_or_int_prop(key) else {
                continue;
            };
            match limits.apply_setting(&format!("{key}={}", value.value)) {
                Ok(()) => {
                    let written = value.value.trim();
                    let word = if written.chars().all(|c| c.is_ascii_alphanumeric()) {
                        written.to_string()
                    } else {
                        limits.get(limit).to_string()
                    };
                    decl.settings.push((limit, word));
                }
                Err(why) => {
                    let example = if limit.is_size() { "\"64M\"" } else { "50000" };
                    r.push(
                        Problem::error(
                            "manifest::limit-value",
                            format!("bad value for `{key}=`: {why}"),
                            value.span,
                            "not a usable limit",
                        )
                        .with_help(format!("for example: {key}={example}")),
                    );
                }
            }
        }
        let keys: Vec<&str> = Limit::ALL.iter().map(|l| l.key()).collect();
        r.finish(&keys, false);
        decl.limits = limits;
        decl
    }

    fn module_node(&mut self, node: &KdlNode) -> Option<ModuleDecl> {
        let dir = self.dir.to_path_buf();
        let mut r = self.reader(node);
        let name = if r.expect_args(1, "module \"NAME\" source=\"path/to/NAME.wasm\"") {
            r.string_arg(0, "module name")
        } else {
            None
        };
        let source =
            r.required_string_prop("source", "module \"hello\" source=\"build/hello.wasm\"");
        let source_span = r.prop("source").map(|e| r.value_span(e));
        let sha256 = r.string_prop("sha256");
        r.finish(MODULE_PROPS, false);
        let sha256 = sha256.and_then(|pin| match normalise_sha256(&pin.value) {
            Some(hex) => Some(Spanned::new(hex, pin.span)),
            None => {
                self.problems.push(
                    Problem::error(
                        "manifest::sha256",
                        "`sha256=` must be 64 hexadecimal digits",
                        pin.span,
                        "not a SHA-256 digest",
                    )
                    .with_help("get it with: sha256sum FILE.wasm"),
                );
                None
            }
        });
        let name = name?;
        let source_text = source.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let parsed = source
            .as_ref()
            .and_then(|s| match ModuleSource::parse(&s.value, &dir) {
                Ok(parsed) => Some(parsed),
                Err(e) => {
                    self.problems.push(
                        Problem::error("manifest::source", e.to_string(), s.span, "bad source")
                            .with_help(
                                "a source is a path, a file: URL, or oci://REGISTRY/REPOSITORY:TAG",
                            ),
                    );
                    None
                }
            });
        Some(ModuleDecl {
            name,
            source_text,
            source: parsed,
            source_span: source_span.unwrap_or(node.name().span()),
            sha256,
            span: node.span(),
        })
    }

    fn route_node(&mut self, node: &KdlNode, scope: usize) -> Option<RouteDecl> {
        let mut r = self.reader(node);
        let path = if r.expect_args(1, "route \"/PATH\" module=\"NAME\"") {
            r.string_arg(0, "URL path")
        } else {
            None
        };
        let module = r.required_string_prop("module", "route \"/hello\" module=\"hello\"");
        r.finish(ROUTE_PROPS, true);
        let mut settings = RouteSettings::default();
        let mut host_dirs = Vec::new();
        for child in node.iter_children() {
            self.route_child(child, scope, &mut settings, &mut host_dirs);
        }
        Some(RouteDecl {
            path: path?,
            module: module?,
            settings,
            host_dirs,
            span: node.span(),
        })
    }

    fn route_child(
        &mut self,
        node: &KdlNode,
        scope: usize,
        s: &mut RouteSettings,
        host_dirs: &mut Vec<Spanned<PathBuf>>,
    ) {
        let name = node.name().value();
        if !ROUTE_NODES.contains(&name) {
            self.unknown_node(node, "route", ROUTE_NODES);
            return;
        }
        let repeatable = matches!(name, "arg" | "env" | "dir" | "map-dir");
        if !repeatable {
            self.once(node, scope);
        }
        let dir = self.dir.to_path_buf();
        let mut r = self.reader(node);
        let mut props: &[&str] = &[];
        match name {
            "arg" => {
                if r.expect_args(1, "arg \"VALUE\"")
                    && let Some(a) = r.string_arg(0, "argument")
                {
                    s.args.push(a.value);
                }
            }
            "env" => {
                if r.expect_args(2, "env \"NAME\" \"VALUE\"") {
                    let key = r.string_arg(0, "variable name");
                    let value = r.string_arg(1, "value");
                    if let Some(key) = &key {
                        if key.value.is_empty()
                            || key.value.contains('=')
                            || key.value.contains(char::is_whitespace)
                        {
                            r.push(
                                Problem::error(
                                    "manifest::env-name",
                                    format!(
                                        "`{}` is not a usable environment variable name",
                                        key.value
                                    ),
                                    key.span,
                                    "bad name",
                                )
                                .with_help("a name is non-empty, with no `=` and no spaces"),
                            );
                        } else if let Some(value) = value {
                            s.env.push((key.value.clone(), value.value));
                        }
                    }
                }
            }
            "dir" => {
                props = DIR_PROPS;
                let readonly = r.bool_prop("readonly").unwrap_or(false);
                if r.expect_args(1, "dir \"/HOST/DIR\" [readonly=#true]")
                    && let Some(d) = r.string_arg(0, "folder")
                {
                    let host = join_clean(&dir, &d.value);
                    s.dirs.push(HostDir {
                        host: host.display().to_string(),
                        readonly,
                    });
                    host_dirs.push(Spanned::new(host, d.span));
                }
            }
            "map-dir" => {
                props = DIR_PROPS;
                let readonly = r.bool_prop("readonly").unwrap_or(false);
                if r.expect_args(2, "map-dir \"/GUEST\" \"HOST\" [readonly=#true]") {
                    let guest = r.string_arg(0, "guest path");
                    let host = r.string_arg(1, "host folder");
                    if let (Some(guest), Some(h)) = (guest, host) {
                        let abs = join_clean(&dir, &h.value);
                        s.map_dirs.push(MapDir {
                            guest: guest.value,
                            host: abs.display().to_string(),
                            readonly,
                        });
                        host_dirs.push(Spanned::new(abs, h.span));
                    }
                }
            }
            "cgi" => {
                if r.expect_args(1, "cgi #true") {
                    s.cgi = r.bool_arg(0, "");
                }
            }
            "map-cgi-file-names" => {
                if r.expect_args(1, "map-cgi-file-names #true") {
                    s.map_cgi_file_names = r.bool_arg(0, "");
                }
            }
            "entry-point" => {
                if r.expect_args(1, "entry-point \"_start\"")
                    && let Some(e) = r.string_arg(0, "function name")
                {
                    if e.value.is_empty() {
                        r.push(Problem::error(
                            "manifest::empty-value",
                            "the entry point is empty",
                            e.span,
                            "empty",
                        ));
                    } else {
                        s.entry_point = Some(e.value);
                    }
                }
            }
            "timeout" => {
                if r.expect_args(1, "timeout \"5s\"")
                    && let Some(t) = r.text_or_int_arg(0, "duration")
                {
                    match parse_duration(&t.value) {
                        Ok(_) => s.timeout = Some(t.value),
                        Err(why) => r.push(
                            Problem::error(
                                "manifest::duration",
                                format!("bad duration: {why}"),
                                t.span,
                                "not a duration",
                            )
                            .with_help("durations are written 500ms, 5s, 2m or 1h"),
                        ),
                    }
                }
            }
            "memory-limit" | "output-limit" => {
                if r.expect_args(1, &format!("{name} \"128M\""))
                    && let Some(v) = r.text_or_int_arg(0, "size")
                {
                    match parse_size(&v.value) {
                        Ok(_) if name == "memory-limit" => s.memory_limit = Some(v.value),
                        Ok(_) => s.output_limit = Some(v.value),
                        Err(why) => r.push(
                            Problem::error(
                                "manifest::size",
                                format!("bad size: {why}"),
                                v.span,
                                "not a size",
                            )
                            .with_help("sizes are written 4096, 512k, 64M or 1G"),
                        ),
                    }
                }
            }
            _ => unreachable!("checked against ROUTE_NODES"),
        }
        r.finish(props, false);
    }
}

/// `sha256:HEX` or `HEX` -> lower-case HEX, when it is 64 hex digits.
fn normalise_sha256(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// Checks `HOST:PORT`, `[V6]:PORT` or `PORT`.
pub fn check_listen(text: &str) -> Result<(), String> {
    let port = match text.rsplit_once(':') {
        Some((host, port)) => {
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("`{text}` has no host before `:`"));
            }
            if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
                return Err(format!(
                    "`{text}`: write IPv6 addresses in brackets, e.g. [::1]:8080"
                ));
            }
            port
        }
        None => text,
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{port}` is not a port number (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_spellings() {
        assert!(check_listen("127.0.0.1:8080").is_ok());
        assert!(check_listen("8080").is_ok());
        assert!(check_listen("[::1]:80").is_ok());
        assert!(check_listen("localhost:0").is_err());
        assert!(check_listen(":80").is_err());
        assert!(check_listen("::1:80").is_err());
        assert!(check_listen("host:http").is_err());
    }

    #[test]
    fn sha256_spellings() {
        let hex = "AB".repeat(32);
        assert_eq!(normalise_sha256(&hex), Some("ab".repeat(32)));
        assert_eq!(
            normalise_sha256(&format!("sha256:{hex}")),
            Some("ab".repeat(32))
        );
        assert_eq!(normalise_sha256("abc"), None);
    }
}

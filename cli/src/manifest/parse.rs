//! KDL text -> [`Manifest`]: syntax errors (the kdl crate's own diagnostics) and schema
//! problems (unknown nodes and properties, argument counts and types, bad values).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};
use miette::SourceSpan;
use wasm_runtime::directives::{Arity, Directive};
use wasm_runtime::engine::OptLevel;
use wasm_runtime::module_limits::Limit;

use super::directive_node::{self, DirectiveValue};
use super::reader::NodeReader;
use super::schema::{
    DEPLOY_NODES, MODULE_PROPS, ROUTE_PROPS, SERVER_PROPS, TOP_NODES, engine_directive,
    engine_nodes, home_of, route_directive, route_nodes,
};
use super::suggest::did_you_mean;
use super::{
    DeployBlock, EngineBlock, HostDir, Manifest, MapDir, ModuleDecl, ModuleLimitsDecl, RouteDecl,
    RouteSettings, ServerBlock, Spanned,
};
use crate::problem::Problem;
use crate::sources::{ModuleSource, join_clean};

pub use super::value_rules::check_url_path;

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
        status: None,
        deploy: None,
        registry: Default::default(),
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
                    } else if let Some(why) = super::value_rules::app_name_problem(&name.value) {
                        self.problems.push(
                            Problem::error(
                                "manifest::app-name",
                                format!("bad app name: {why}"),
                                name.span,
                                "not a plain name",
                            )
                            .with_help(
                                "use letters, digits, `.`, `_` and `-` (it names the deploy root \
                                 /var/lib/mod-wasm/APP), e.g. app \"shop\"",
                            ),
                        );
                        if first {
                            // Present but unusable: do not also report it missing.
                            manifest.app = Some(Spanned::new(String::new(), name.span));
                        }
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
            "status" => {
                let first = self.once(node, 0);
                let mut r = self.reader(node);
                let path = if r.expect_args(1, "status \"/.well-known/mod-wasm/status\"") {
                    r.string_arg(0, "URL path")
                } else {
                    None
                };
                r.finish(&[], false);
                if first {
                    manifest.status = path;
                }
            }
            "deploy" => {
                let first = self.once(node, 0);
                let mut r = self.reader(node);
                r.expect_args(0, "deploy { root \"/var/lib/mod-wasm/APP\" }");
                r.finish(&[], true);
                let mut block = DeployBlock::at(node.span());
                for child in node.iter_children() {
                    self.deploy_node(child, &mut block);
                }
                if first {
                    manifest.deploy = Some(block);
                }
            }
            "registry" => {
                let first = self.once(node, 0);
                let block = super::registry::read(self.reader(node));
                if first {
                    manifest.registry = block;
                }
            }
            _ => self.unknown_node(node, "top level", TOP_NODES),
        }
    }

    /// A node inside `deploy { }`: a setting of `mod-wasm deploy`, each at most once except
    /// `health`, each value checked the way the flag of the same name is.
    fn deploy_node(&mut self, node: &KdlNode, block: &mut DeployBlock) {
        let name = node.name().value();
        if !DEPLOY_NODES.contains(&name) {
            self.unknown_node(node, "deploy", DEPLOY_NODES);
            return;
        }
        if name != "health" {
            self.once(node, usize::MAX - 1);
        }
        let dir = self.dir.to_path_buf();
        let mut r = self.reader(node);
        let usage = match name {
            "root" => "root \"/var/lib/mod-wasm/APP\"",
            "apachectl" => "apachectl \"/usr/sbin/apache2 -f /etc/apache2/apache2.conf\"",
            "url" => "url \"http://127.0.0.1:8080\"",
            "keep" => "keep 5",
            "health" => "health \"/healthz\"",
            "lock-wait" => "lock-wait \"30s\"",
            "verify-key" => "verify-key \"/etc/mod-wasm/release.pub\"",
            _ => "preflight #false",
        };
        if !r.expect_args(1, usage) {
            r.finish(&[], false);
            return;
        }
        let bad = |code: &'static str, why: String, span, label: &str| {
            Problem::error(code, why, span, label).with_help(format!("for example: {usage}"))
        };
        match name {
            "root" => {
                if let Some(v) = r.string_arg(0, "folder") {
                    block.root = Some(Spanned::new(join_clean(&dir, &v.value), v.span));
                }
            }
            "apachectl" => {
                if let Some(v) = r.string_arg(0, "command") {
                    match crate::deploy::apachectl::Apachectl::parse(&v.value) {
                        Ok(_) => block.apachectl = Some(v),
                        Err(why) => r.push(bad(
                            "manifest::deploy-apachectl",
                            format!("bad `apachectl`: {why}"),
                            v.span,
                            "not a command",
                        )),
                    }
                }
            }
            "url" => {
                if let Some(v) = r.string_arg(0, "URL") {
                    match crate::deploy::http::BaseUrl::parse(&v.value) {
                        Ok(_) => block.url = Some(v),
                        Err(why) => r.push(bad(
                            "manifest::deploy-url",
                            format!("bad `url`: {why}"),
                            v.span,
                            "not an http:// URL",
                        )),
                    }
                }
            }
            "keep" => {
                if let Some(v) = r.text_or_int_arg(0, "number of releases") {
                    match v.value.trim().parse::<usize>() {
                        Ok(n) if n >= 1 => block.keep = Some(Spanned::new(n, v.span)),
                        _ => r.push(bad(
                            "manifest::deploy-keep",
                            format!(
                                "bad `keep`: `{}` is not a whole number of releases of at least 1",
                                v.value
                            ),
                            v.span,
                            "not 1 or more",
                        )),
                    }
                }
            }
            "health" => {
                if let Some(v) = r.string_arg(0, "URL path") {
                    match check_url_path(&v.value) {
                        Ok(()) => block.health.push(v),
                        Err(why) => r.push(bad(
                            "manifest::deploy-health",
                            format!("bad `health`: {why}"),
                            v.span,
                            "not a URL path",
                        )),
                    }
                }
            }
            "lock-wait" => {
                if let Some(v) = r.text_or_int_arg(0, "duration") {
                    // `0` (the flag's default: do not wait) is not a duration the directives take.
                    match wasm_runtime::units::parse_duration(&v.value) {
                        Err(why) if v.value.trim() != "0" => r.push(bad(
                            "manifest::duration",
                            format!("bad `lock-wait`: {why}"),
                            v.span,
                            "not a duration",
                        )),
                        _ => block.lock_wait = Some(v),
                    }
                }
            }
            "verify-key" => {
                if let Some(v) = r.string_arg(0, "public key file") {
                    block.verify_key = Some(Spanned::new(join_clean(&dir, &v.value), v.span));
                }
            }
            _ => {
                block.preflight = r.bool_arg(0, "value");
            }
        }
        r.finish(&[], false);
    }

    /// A node inside `engine { }`: a server-wide directive, each at most once.
    fn engine_node(&mut self, node: &KdlNode, engine: &mut EngineBlock) {
        let name = node.name().value();
        let Some(directive) = engine_directive(name) else {
            self.unknown_node(node, "engine", &engine_nodes());
            return;
        };
        self.once(node, usize::MAX);
        if name == "module-limits" {
            engine.module_limits = Some(self.module_limits_node(node, directive));
            return;
        }
        let r = self.reader(node);
        if let Some(value) = directive_node::read(r, node, directive) {
            store_engine(engine, name, &value, self.dir);
        }
    }

    /// `module-limits functions=50000 function-size="8M" …`: each property is one setting of
    /// `WasmModuleLimits`, checked by its validator (an unknown key too, in its words).
    fn module_limits_node(&mut self, node: &KdlNode, directive: &Directive) -> ModuleLimitsDecl {
        let mut r = self.reader(node);
        r.expect_args(0, "module-limits functions=50000 function-size=\"8M\"");
        let mut decl = ModuleLimitsDecl::default();
        let keys = r.prop_keys();
        for key in &keys {
            let key_span = r.prop_key_span(key);
            let Some(value) = r.text_or_int_prop(key) else {
                continue;
            };
            let setting = format!("{key}={}", value.value);
            let why = match directive.parse(&[&setting]) {
                Ok(_) => {
                    let limit = Limit::from_key(key).expect("a key the validator accepts");
                    decl.limits
                        .apply_setting(&setting)
                        .expect("a setting the validator accepts");
                    let written = value.value.trim();
                    let word = if written.chars().all(|c| c.is_ascii_alphanumeric()) {
                        written.to_string()
                    } else {
                        decl.limits.get(limit).to_string()
                    };
                    decl.settings.push((limit, word));
                    continue;
                }
                Err(why) => why,
            };
            let problem = match Limit::from_key(key) {
                None => {
                    let known: Vec<&str> = Limit::ALL.iter().map(|l| l.key()).collect();
                    Problem::error(
                        "manifest::unknown-property",
                        format!("`module-limits` has no property `{key}`: {why}"),
                        key_span.unwrap_or(value.span),
                        "unknown property",
                    )
                    .with_help_opt(did_you_mean(key, &known))
                }
                Some(limit) => {
                    let (code, label) = directive_node::refusal(directive.value);
                    let example = if limit.is_size() { "\"64M\"" } else { "50000" };
                    Problem::error(
                        code,
                        format!("bad `{key}=` in `module-limits`: {why}"),
                        value.span,
                        label,
                    )
                    .with_help(format!("for example: {}={example}", limit.key()))
                }
            };
            r.push(problem);
        }
        // Every property was judged above.
        r.finish(&keys, false);
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
        let outbound = node
            .iter_children()
            .find(|c| c.name().value() == "allow-outbound")
            .map(|c| c.name().span());
        Some(RouteDecl {
            path: path?,
            module: module?,
            settings,
            host_dirs,
            outbound,
            span: node.span(),
        })
    }

    /// A node inside `route { }`: a per-directory directive. Those that add a value (`arg`,
    /// `env`, `dir`, `map-dir`, `allow-outbound`) repeat; those that set one appear at most once
    /// per route.
    fn route_child(
        &mut self,
        node: &KdlNode,
        scope: usize,
        settings: &mut RouteSettings,
        host_dirs: &mut Vec<Spanned<PathBuf>>,
    ) {
        let name = node.name().value();
        let Some(directive) = route_directive(name) else {
            self.unknown_node(node, "route", &route_nodes());
            return;
        };
        if !adds_a_value(directive) {
            self.once(node, scope);
        }
        let r = self.reader(node);
        if let Some(value) = directive_node::read(r, node, directive) {
            store_route(settings, host_dirs, name, &value, self.dir);
        }
    }
}

/// Whether each occurrence of the directive adds a value (`WasmArg`, `WasmEnv`, `WasmDir`,
/// `WasmMapDir`) rather than setting the one value (a flag or a single argument).
fn adds_a_value(directive: &Directive) -> bool {
    !matches!(directive.arity, Arity::Take1 | Arity::Flag)
}

/// Puts the checked value of engine node `name` into `engine`.
fn store_engine(engine: &mut EngineBlock, name: &str, value: &DirectiveValue, dir: &Path) {
    match name {
        "opt-level" => engine.opt_level = value.text(0).parse::<OptLevel>().ok(),
        "pooling" => engine.pooling = Some(value.is_set()),
        "pooling-max-instances" => engine.pooling_max_instances = u32::try_from(value.number).ok(),
        "cache-dir" => engine.cache_dir = Some(join_clean(dir, value.text(0))),
        _ => unreachable!("engine node `{name}` has no place in EngineBlock (see tests)"),
    }
}

/// Puts the checked value of route node `name` into `settings` (host folders, absolute, also
/// into `host_dirs`, to be checked).
fn store_route(
    settings: &mut RouteSettings,
    host_dirs: &mut Vec<Spanned<PathBuf>>,
    name: &str,
    value: &DirectiveValue,
    dir: &Path,
) {
    let mut host_dir = |arg: Spanned<String>| {
        let host = join_clean(dir, &arg.value);
        host_dirs.push(Spanned::new(host.clone(), arg.span));
        host.display().to_string()
    };
    match name {
        "arg" => settings.args.push(value.text(0)),
        "env" => settings.env.push((value.text(0), value.text(1))),
        "dir" => settings.dirs.push(HostDir {
            host: host_dir(value.spanned(0)),
            readonly: value.is_set(),
        }),
        "map-dir" => settings.map_dirs.push(MapDir {
            guest: value.text(0),
            host: host_dir(value.spanned(1)),
            readonly: value.is_set(),
        }),
        "cgi" => settings.cgi = Some(value.is_set()),
        "map-cgi-file-names" => settings.map_cgi_file_names = Some(value.is_set()),
        "entry-point" => settings.entry_point = Some(value.text(0)),
        "timeout" => settings.timeout = Some(value.text(0)),
        "memory-limit" => settings.memory_limit = Some(value.text(0)),
        "output-limit" => settings.output_limit = Some(value.text(0)),
        "allow-outbound" => settings.allow_outbound.push(value.text(0)),
        _ => unreachable!("route node `{name}` has no place in RouteSettings (see tests)"),
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
    use wasm_runtime::directives::{self, DIRECTIVES, ManifestKey, ValueKind};

    use super::*;

    fn parse_text(text: &str) -> (Manifest, Vec<Problem>) {
        parse(
            Path::new("app.kdl"),
            Path::new("/app"),
            Arc::new(text.to_string()),
        )
    }

    /// A value the directive's validator accepts, as a manifest writes it.
    fn sample(kind: ValueKind) -> &'static str {
        match kind {
            ValueKind::Env => "\"NAME\" \"value\"",
            ValueKind::MapDir => "\"/guest\" \"data\" readonly=#true",
            ValueKind::Dir => "\"data\" readonly=#true",
            ValueKind::Path | ValueKind::Text | ValueKind::Name => "\"x\"",
            ValueKind::Flag => "#true",
            ValueKind::Duration => "\"2mi\"",
            ValueKind::Size => "\"64M\"",
            ValueKind::Count { .. } => "64",
            ValueKind::OptLevel => "\"none\"",
            ValueKind::ModuleLimit => "functions=50000",
            ValueKind::Outbound => "\"api.example.com:8443\"",
        }
    }

    #[test]
    fn every_route_and_engine_node_of_the_directive_table_is_read_and_stored() {
        let mut engine = String::new();
        let mut route = String::new();
        for d in DIRECTIVES {
            match d.manifest {
                ManifestKey::Engine(node) => {
                    engine += &format!("    {node} {}\n", sample(d.value));
                }
                ManifestKey::Route(node) => route += &format!("    {node} {}\n", sample(d.value)),
                _ => {}
            }
        }
        let text = format!(
            "app \"t\"\nengine {{\n{engine}}}\nmodule \"m\" source=\"m.wasm\"\nroute \"/\" module=\"m\" {{\n{route}}}\n"
        );
        let (m, problems) = parse_text(&text);
        assert!(problems.is_empty(), "{text}\n{problems:#?}");
        let e = &m.engine;
        assert_eq!(e.opt_level, Some(OptLevel::None));
        assert_eq!(e.pooling, Some(true));
        assert_eq!(e.pooling_max_instances, Some(64));
        assert_eq!(e.cache_dir, Some(PathBuf::from("/app/x")));
        assert_eq!(e.limits().get(Limit::Functions), 50_000);
        let s = &m.routes[0].settings;
        assert_eq!(s.args, ["x"]);
        assert_eq!(s.env, [("NAME".to_string(), "value".to_string())]);
        assert!(s.dirs[0].readonly && s.dirs[0].host == "/app/data");
        assert!(s.map_dirs[0].readonly && s.map_dirs[0].guest == "/guest");
        assert_eq!((s.cgi, s.map_cgi_file_names), (Some(true), Some(true)));
        assert_eq!(s.entry_point.as_deref(), Some("x"));
        assert_eq!(s.timeout.as_deref(), Some("2mi"));
        assert_eq!(s.memory_limit.as_deref(), Some("64M"));
        assert_eq!(s.output_limit.as_deref(), Some("64M"));
        assert_eq!(s.allow_outbound, ["api.example.com:8443"]);
        assert_eq!(m.routes[0].host_dirs.len(), 2);
    }

    #[test]
    fn a_refusal_carries_the_validators_own_words() {
        for (node, value, directive, args) in [
            ("timeout", "\"0\"", "WasmTimeout", &["0"][..]),
            ("timeout", "-1", "WasmTimeout", &["-1"]),
            ("timeout", "\"1.5s\"", "WasmTimeout", &["1.5s"]),
            ("memory-limit", "\"12Q\"", "WasmMemoryLimit", &["12Q"]),
            ("output-limit", "0", "WasmOutputLimit", &["0"]),
            ("env", "\"A B\" \"x\"", "WasmEnv", &["A B", "x"]),
            ("env", "\"A=B\" \"x\"", "WasmEnv", &["A=B", "x"]),
        ] {
            let text = format!(
                "app \"t\"\nmodule \"m\" source=\"m.wasm\"\nroute \"/\" module=\"m\" {{\n    {node} {value}\n}}\n"
            );
            let (_, problems) = parse_text(&text);
            let why = directives::parse(directive, args).unwrap_err();
            assert_eq!(problems.len(), 1, "{node} {value}: {problems:#?}");
            assert!(
                problems[0].message.contains(&why),
                "{node} {value}: {problems:#?}"
            );
        }
        for (node, value, directive, arg) in [
            ("pooling-max-instances", "0", "WasmPoolingMaxInstances", "0"),
            (
                "pooling-max-instances",
                "\"abc\"",
                "WasmPoolingMaxInstances",
                "abc",
            ),
            ("opt-level", "\"fast\"", "WasmEngineOptLevel", "fast"),
            (
                "module-limits",
                "functions=\"many\"",
                "WasmModuleLimits",
                "functions=many",
            ),
            ("module-limits", "speed=1", "WasmModuleLimits", "speed=1"),
        ] {
            let text = format!("app \"t\"\nengine {{\n    {node} {value}\n}}\n");
            let (_, problems) = parse_text(&text);
            let why = directives::parse(directive, &[arg]).unwrap_err();
            assert_eq!(problems.len(), 1, "{node} {value}: {problems:#?}");
            assert!(
                problems[0].message.contains(&why),
                "{node} {value}: {problems:#?}"
            );
        }
    }

    fn route_with(children: &str) -> String {
        format!(
            "app \"t\"\nmodule \"m\" source=\"m.wasm\"\nroute \"/\" module=\"m\" {{\n{children}}}\n"
        )
    }

    #[test]
    fn allow_outbound_repeats_and_keeps_each_destination_as_written() {
        let (m, problems) = parse_text(&route_with(
            "    allow-outbound \"api.example.com\"\n    allow-outbound \"127.0.0.1:8080\"\n    allow-outbound \"[::1]:81\"\n    allow-outbound \"API.Example.com:443\"\n",
        ));
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(
            m.routes[0].settings.allow_outbound,
            [
                "api.example.com",
                "127.0.0.1:8080",
                "[::1]:81",
                "API.Example.com:443"
            ]
        );
        // None by default.
        let (m, _) = parse_text(&route_with(""));
        assert!(m.routes[0].settings.allow_outbound.is_empty());
    }

    #[test]
    fn a_bad_outbound_destination_is_refused_at_its_value_in_the_validators_words() {
        for bad in [
            "http://x",
            "x:0",
            "*.example.com",
            "x:70000",
            "x/y",
            "[zz]",
            "a..b",
            "x:",
        ] {
            let text = route_with(&format!("    allow-outbound \"{bad}\"\n"));
            let (m, problems) = parse_text(&text);
            assert_eq!(problems.len(), 1, "{bad}: {problems:#?}");
            let p = &problems[0];
            assert_eq!(p.code, "manifest::outbound", "{bad}");
            let why = directives::parse("WasmAllowOutbound", &[bad]).unwrap_err();
            assert_eq!(p.message, format!("bad `allow-outbound`: {why}"), "{bad}");
            let at = &text[p.span.offset()..p.span.offset() + p.span.len()];
            assert_eq!(at.trim(), format!("\"{bad}\""), "{bad}: label on {at:?}");
            assert!(p.help.as_deref().unwrap().contains("HOST[:PORT]"), "{p:#?}");
            assert!(m.routes[0].settings.allow_outbound.is_empty(), "{bad}");
        }
        // One destination per node, a string each.
        let (_, problems) = parse_text(&route_with(
            "    allow-outbound \"a.example\" \"b.example\"\n",
        ));
        assert_eq!(problems[0].code, "manifest::arguments", "{problems:#?}");
        let (_, problems) = parse_text(&route_with("    allow-outbound 443\n"));
        assert_eq!(problems[0].code, "manifest::type", "{problems:#?}");
        let (_, problems) = parse_text(&route_with("    allow-outbound \"\"\n"));
        assert_eq!(problems[0].code, "manifest::empty-value", "{problems:#?}");
    }

    #[test]
    fn the_deploy_block_and_status_node_are_read() {
        let (m, problems) = parse_text(
            "app \"t\"\nstatus \"/s\"\ndeploy {\n    root \"rel\"\n    apachectl \"apache2 -f '/a b.conf'\"\n    url \"http://127.0.0.1:81\"\n    keep 2\n    health \"/a\"\n    health \"/b\"\n    lock-wait 0\n    preflight #false\n    verify-key \"keys/release.pub\"\n}\n",
        );
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(m.status.unwrap().value, "/s");
        let d = m.deploy.unwrap();
        assert_eq!(d.root.unwrap().value, PathBuf::from("/app/rel"));
        assert_eq!(d.apachectl.unwrap().value, "apache2 -f '/a b.conf'");
        assert_eq!(d.url.unwrap().value, "http://127.0.0.1:81");
        assert_eq!(d.keep.unwrap().value, 2);
        let health: Vec<String> = d.health.into_iter().map(|h| h.value).collect();
        assert_eq!(health, ["/a", "/b"]);
        assert_eq!(d.lock_wait.unwrap().value, "0");
        assert_eq!(d.preflight, Some(false));
        let key = d.verify_key.unwrap().value;
        assert!(
            key.is_absolute() && key.ends_with("keys/release.pub"),
            "{}",
            key.display()
        );
        // A setting given twice, and a bad one: each reported, the block still read.
        let (m, problems) =
            parse_text("app \"t\"\ndeploy {\n    keep 1\n    keep 2\n    url \"ftp://x\"\n}\n");
        let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["manifest::duplicate-node", "manifest::deploy-url"]);
        assert!(m.deploy.unwrap().url.is_none());
    }

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

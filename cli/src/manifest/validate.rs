//! Checks across nodes (missing `app`, duplicates, dangling references, route paths) and
//! against the file system (module files: regular files within the compile limits, pins).
//! Host folders are checked (and made canonical) by [`super::host_dirs`].

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::Manifest;
use super::suggest::did_you_mean;
use crate::problem::Problem;
use wasm_runtime::module_limits::LimitError;

use crate::sources::local::{self, LocalError, WasmKind};
use crate::sources::{ModuleSource, ResolvedSource};

pub use super::value_rules::valid_module_name;

/// Problems that need the whole manifest.
pub fn validate(m: &Manifest) -> Vec<Problem> {
    let mut problems = Vec::new();
    if m.app.is_none() {
        problems.push(
            Problem::error(
                "manifest::missing-app",
                "the manifest has no `app` node",
                SourceSpan::from(0..0),
                "expected `app \"NAME\"` in this file",
            )
            .with_help("add a line such as: app \"hello\""),
        );
    }
    let mut names: BTreeMap<&str, SourceSpan> = BTreeMap::new();
    for module in &m.modules {
        let name = module.name.value.as_str();
        if let Some(first) = names.get(name) {
            problems.push(
                Problem::error(
                    "manifest::duplicate-module",
                    format!("module `{name}` is declared more than once"),
                    module.name.span,
                    "declared again here",
                )
                .with_related(*first, "first declared here"),
            );
            continue;
        }
        names.insert(name, module.name.span);
        if !valid_module_name(name) {
            problems.push(
                Problem::error(
                    "manifest::module-name",
                    format!("`{name}` cannot be a module name"),
                    module.name.span,
                    "bad name",
                )
                .with_help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit (it becomes a file name)"),
            );
        }
    }
    let known: Vec<&str> = names.keys().copied().collect();
    let mut paths: BTreeMap<&str, SourceSpan> = BTreeMap::new();
    let mut used: Vec<&str> = Vec::new();
    for route in &m.routes {
        let path = route.path.value.as_str();
        if !path.starts_with('/') {
            problems.push(
                Problem::error(
                    "manifest::route-path",
                    format!("route path `{path}` does not start with `/`"),
                    route.path.span,
                    "not an absolute URL path",
                )
                .with_help(format!("write it as \"/{}\"", path.trim_start_matches('/'))),
            );
        } else if path.contains(char::is_whitespace) || path.contains('"') {
            problems.push(Problem::error(
                "manifest::route-path",
                format!("route path `{path}` contains spaces or quotes"),
                route.path.span,
                "not a URL path",
            ));
        }
        if let Some(first) = paths.get(path) {
            problems.push(
                Problem::error(
                    "manifest::duplicate-route",
                    format!("route `{path}` is declared more than once"),
                    route.path.span,
                    "declared again here",
                )
                .with_related(*first, "first declared here"),
            );
        } else {
            paths.insert(path, route.path.span);
        }
        let target = route.module.value.as_str();
        used.push(target);
        if !names.contains_key(target) {
            let hint = did_you_mean(target, &known).or_else(|| {
                Some(if known.is_empty() {
                    format!("declare it: module \"{target}\" source=\"path/to/{target}.wasm\"")
                } else {
                    format!("declared modules: {}", known.join(", "))
                })
            });
            problems.push(
                Problem::error(
                    "manifest::unknown-module",
                    format!("route `{path}` uses module `{target}`, which is not declared"),
                    route.module.span,
                    "no such module",
                )
                .with_help_opt(hint),
            );
        }
    }
    if let Some(status) = &m.status {
        problems.extend(status_problem(status, m));
    }
    for module in &m.modules {
        if !used.contains(&module.name.value.as_str()) {
            problems.push(Problem::warning(
                "manifest::unused-module",
                format!("module `{}` is not used by any route", module.name.value),
                module.name.span,
                "unused",
            ));
        }
    }
    problems
}

/// The problem with the `status` path, if any: not a URL path, or a path that would take a
/// route's place (the status location comes after the routes in `wasm.conf`, so it wins for its
/// path and everything below it).
fn status_problem(status: &super::Spanned<String>, m: &Manifest) -> Option<Problem> {
    let path = status.value.as_str();
    if let Err(why) = super::parse::check_url_path(path) {
        return Some(
            Problem::error(
                "manifest::status-path",
                format!("bad `status` path: {why}"),
                status.span,
                "not a URL path",
            )
            .with_help("for example: status \"/.well-known/mod-wasm/status\""),
        );
    }
    let below = |route: &str| {
        let base = path.trim_end_matches('/');
        route == path || route == base || route.starts_with(&format!("{base}/"))
    };
    let route = m.routes.iter().find(|r| below(&r.path.value))?;
    Some(
        Problem::error(
            "manifest::status-path",
            format!(
                "the status page at `{path}` would hide route `{}`",
                route.path.value
            ),
            status.span,
            "takes a route's place",
        )
        .with_related(route.path.span, "this route")
        .with_help(
            "choose a status path no route lies under, e.g. \"/.well-known/mod-wasm/status\"",
        ),
    )
}

/// Checks local module files (a regular file, Wasm, compile limits, pin); fills `resolved` with
/// the local modules that passed.
pub fn check_files(m: &Manifest, resolved: &mut BTreeMap<String, ResolvedSource>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let limits = m.engine.limits();
    for module in &m.modules {
        let Some(ModuleSource::Path(path)) = &module.source else {
            continue;
        };
        if resolved.contains_key(&module.name.value) {
            continue;
        }
        match local::resolve(path, &limits) {
            Ok(source) => match pin_problem(module, &source) {
                Some(problem) => problems.push(problem),
                None => {
                    resolved.insert(module.name.value.clone(), source);
                }
            },
            Err(LocalError::Missing(shown)) => problems.push(
                Problem::error(
                    "manifest::missing-file",
                    format!("module file `{shown}` does not exist"),
                    module.source_span,
                    "no such file",
                )
                .with_help("paths are relative to the manifest's folder; build the module first"),
            ),
            Err(LocalError::NotWasm { reason, .. }) => problems.push(Problem::error(
                "manifest::not-wasm",
                format!(
                    "`{}` is not a WebAssembly module or component: {reason}",
                    module.source_text
                ),
                module.source_span,
                "not Wasm",
            )),
            Err(LocalError::NotRegular { kind, .. }) => problems.push(
                Problem::error(
                    "manifest::not-a-file",
                    format!("`{}` is {kind}, not a regular file", module.source_text),
                    module.source_span,
                    "not a regular file",
                )
                .with_help("a module source is a .wasm file"),
            ),
            Err(LocalError::TooLarge { size, cap, .. }) => problems.push(
                Problem::error(
                    "manifest::module-limit",
                    format!(
                        "`{}` is over the compile limit module-size: {size} bytes or more, the limit is {cap}",
                        module.source_text
                    ),
                    module.source_span,
                    "too large",
                )
                .with_help(LIMIT_HELP),
            ),
            Err(LocalError::OverLimit { error, .. }) => {
                problems.push(limit_problem(module, &error));
            }
            Err(e @ LocalError::Unreadable { .. }) => problems.push(Problem::error(
                "manifest::unreadable",
                e.to_string(),
                module.source_span,
                "cannot read",
            )),
        }
    }
    problems
}

/// Warnings for routes that allow outbound HTTP but run a core module (known for local files):
/// only a component can send HTTP requests (`wasi:http/outgoing-handler`), so the setting does
/// nothing there.
pub fn outbound_of_core_modules(
    m: &Manifest,
    resolved: &BTreeMap<String, ResolvedSource>,
) -> Vec<Problem> {
    m.routes
        .iter()
        .filter_map(|route| {
            let span = route.outbound?;
            let module = &route.module.value;
            let kind = resolved.get(module)?.kind?;
            (kind == WasmKind::Module).then(|| {
                Problem::warning(
                    "manifest::outbound-unused",
                    format!(
                        "route `{}` allows outbound HTTP, but module `{module}` is a core module, which cannot send HTTP requests",
                        route.path.value
                    ),
                    span,
                    "has no effect",
                )
                .with_related(route.module.span, "a core module (WASI preview 1)")
                .with_help("only a component (wasi:http) makes outgoing requests; remove `allow-outbound` or run a component")
            })
        })
        .collect()
}

const LIMIT_HELP: &str = "raise it in the manifest: engine { module-limits KEY=VALUE } \
(written into wasm.conf as WasmModuleLimits, so the server agrees)";

/// The `manifest::module-limit` problem of `module` over a compile limit.
pub fn limit_problem(module: &super::ModuleDecl, error: &LimitError) -> Problem {
    let message = match error {
        LimitError::Exceeded { limit, value, max } => format!(
            "module `{}` is over the compile limit {}: it has {value}, the limit is {max}",
            module.name.value,
            limit.key()
        ),
        other => format!("module `{}`: {other}", module.name.value),
    };
    Problem::error(
        "manifest::module-limit",
        message,
        module.source_span,
        "over a compile limit",
    )
    .with_help(LIMIT_HELP)
}

/// The `sha256-mismatch` problem when `module` pins a digest that `source` does not have.
pub fn pin_problem(module: &super::ModuleDecl, source: &ResolvedSource) -> Option<Problem> {
    let pin = module.sha256.as_ref()?;
    (pin.value != source.sha256).then(|| {
        Problem::error(
            "manifest::sha256-mismatch",
            format!(
                "module `{}` does not match its pinned sha256",
                module.name.value
            ),
            pin.span,
            format!("the file's sha256 is {}", source.sha256),
        )
        .with_help("if the new module is intended, update the pin (or remove it)")
    })
}

//! What a manifest may contain: node names per level and properties per node. Used for
//! "unknown …" diagnostics and their "did you mean" hints.
//!
//! Every node inside `route { }` and `engine { }` stands for a server directive, so those lists
//! come from the runtime's directive table (`wasm_runtime::directives`): a directive given a
//! manifest node there is known here, with nothing to add.

use wasm_runtime::directives::{DIRECTIVES, Directive, ManifestKey, for_manifest};

/// Nodes allowed at the top level.
pub const TOP_NODES: &[&str] = &[
    "app", "engine", "server", "module", "route", "status", "deploy", "registry",
];

/// Nodes allowed inside `deploy { }` (settings of `mod-wasm deploy`, not server directives).
pub const DEPLOY_NODES: &[&str] = &[
    "root",
    "apachectl",
    "url",
    "keep",
    "health",
    "lock-wait",
    "preflight",
    "verify-key",
];

/// Nodes allowed inside `engine { }`: the directive table's engine nodes.
pub fn engine_nodes() -> Vec<&'static str> {
    DIRECTIVES
        .iter()
        .filter_map(|d| match d.manifest {
            ManifestKey::Engine(node) => Some(node),
            _ => None,
        })
        .collect()
}

/// Nodes allowed inside `route { }`: the directive table's route nodes.
pub fn route_nodes() -> Vec<&'static str> {
    DIRECTIVES
        .iter()
        .filter_map(|d| match d.manifest {
            ManifestKey::Route(node) => Some(node),
            _ => None,
        })
        .collect()
}

/// The directive that route node `name` stands for.
pub fn route_directive(name: &str) -> Option<&'static Directive> {
    // The table's keys are `&'static str`: find the node's own spelling, then its directive.
    let node = route_nodes().into_iter().find(|n| *n == name)?;
    for_manifest(ManifestKey::Route(node))
}

/// The directive that engine node `name` stands for.
pub fn engine_directive(name: &str) -> Option<&'static Directive> {
    let node = engine_nodes().into_iter().find(|n| *n == name)?;
    for_manifest(ManifestKey::Engine(node))
}

/// Properties of `module`.
pub const MODULE_PROPS: &[&str] = &["source", "sha256"];

/// Properties of `route`.
pub const ROUTE_PROPS: &[&str] = &["module"];

/// Properties of `dir` and `map-dir` (the directive's access mode, `ro`/`rw`).
pub const DIR_PROPS: &[&str] = &["readonly"];

/// Properties of `server`.
pub const SERVER_PROPS: &[&str] = &["listen"];

/// Where a misplaced node belongs, for the hint on an unknown node.
pub fn home_of(name: &str) -> Option<&'static str> {
    if route_nodes().contains(&name) {
        Some("route")
    } else if engine_nodes().contains(&name) {
        Some("engine")
    } else if DEPLOY_NODES.contains(&name) {
        Some("deploy")
    } else if TOP_NODES.contains(&name) {
        Some("top level")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_come_from_the_directive_table() {
        assert!(route_nodes().contains(&"timeout"));
        assert!(route_nodes().contains(&"map-dir"));
        assert!(engine_nodes().contains(&"pooling-max-instances"));
        assert!(!route_nodes().contains(&"opt-level"));
        assert_eq!(home_of("module-limits"), Some("engine"));
        assert_eq!(home_of("route"), Some("top level"));
        assert_eq!(route_directive("timeout").unwrap().name, "WasmTimeout");
        assert_eq!(
            engine_directive("opt-level").unwrap().name,
            "WasmEngineOptLevel"
        );
        assert!(route_directive("opt-level").is_none());
        assert_eq!(home_of("keep"), Some("deploy"));
        assert_eq!(home_of("status"), Some("top level"));
    }
}

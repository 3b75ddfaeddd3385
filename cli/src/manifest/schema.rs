//! What a manifest may contain: node names per level and properties per node. Used for
//! "unknown …" diagnostics and their "did you mean" hints.

/// Nodes allowed at the top level.
pub const TOP_NODES: &[&str] = &["app", "engine", "server", "module", "route"];

/// Nodes allowed inside `engine { }`.
pub const ENGINE_NODES: &[&str] = &[
    "opt-level",
    "pooling",
    "pooling-max-instances",
    "cache-dir",
    "module-limits",
];

/// Nodes allowed inside `route { }`.
pub const ROUTE_NODES: &[&str] = &[
    "arg",
    "env",
    "dir",
    "map-dir",
    "cgi",
    "map-cgi-file-names",
    "entry-point",
    "timeout",
    "memory-limit",
    "output-limit",
];

/// Properties of `module`.
pub const MODULE_PROPS: &[&str] = &["source", "sha256"];

/// Properties of `route`.
pub const ROUTE_PROPS: &[&str] = &["module"];

/// Properties of `dir` and `map-dir`.
pub const DIR_PROPS: &[&str] = &["readonly"];

/// Properties of `server`.
pub const SERVER_PROPS: &[&str] = &["listen"];

/// Where a misplaced node belongs, for the hint on an unknown node.
pub fn home_of(name: &str) -> Option<&'static str> {
    if ROUTE_NODES.contains(&name) {
        Some("route")
    } else if ENGINE_NODES.contains(&name) {
        Some("engine")
    } else if TOP_NODES.contains(&name) {
        Some("top level")
    } else {
        None
    }
}

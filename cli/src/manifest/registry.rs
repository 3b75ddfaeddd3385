//! The `registry` node: how the CLI talks to OCI registries for this manifest.
//!
//! ```kdl
//! registry timeout="5mi"
//! ```
//!
//! `timeout` is the total deadline of each registry operation (the pull of one module's manifest
//! and layer, a bundle pull, the resolve of a followed tag, a push): a registry that stalls or
//! trickles ends the operation with `oci::timeout` instead of holding it for ever.
//! `--registry-timeout` overrides it; the default is [`mod_wasm_oci::bounds::DEFAULT_TIMEOUT`].
//! `build`, `up`, `pull` and `deploy` read it from the app manifest, `deploy --from` from the
//! host manifest given with it. Nothing here goes into the bundle.

use std::time::Duration;

use super::Spanned;
use super::reader::NodeReader;
use crate::problem::Problem;

/// Properties of `registry`.
pub const REGISTRY_PROPS: &[&str] = &["timeout"];

/// The `registry` node.
#[derive(Clone, Debug, Default)]
pub struct RegistryBlock {
    /// `timeout="DURATION"`: the deadline of each registry operation.
    pub timeout: Option<Spanned<Duration>>,
}

/// Parses a registry deadline (`--registry-timeout`, `timeout=`): a duration the directives take
/// (`30s`, `5mi`, `1h`), more than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = wasm_runtime::units::parse_duration(text)?;
    if d.is_zero() {
        return Err(format!(
            "`{text}` is no time at all: a registry operation needs a deadline above 0"
        ));
    }
    Ok(d)
}

/// Reads a `registry timeout="…"` node.
pub fn read(mut r: NodeReader<'_>) -> RegistryBlock {
    r.expect_args(0, "registry timeout=\"5mi\"");
    let mut block = RegistryBlock::default();
    if let Some(v) = r.text_or_int_prop("timeout") {
        match parse_timeout(&v.value) {
            Ok(d) => block.timeout = Some(Spanned::new(d, v.span)),
            Err(why) => r.push(
                Problem::error(
                    "manifest::duration",
                    format!("bad registry `timeout`: {why}"),
                    v.span,
                    "not a duration",
                )
                .with_help("for example: registry timeout=\"5mi\" (also 30s, 1h)"),
            ),
        }
    }
    r.finish(REGISTRY_PROPS, false);
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(text: &str) -> super::super::Checked {
        super::super::check_text(Path::new("/nonexistent/app.kdl"), text.to_string())
    }

    #[test]
    fn the_registry_timeout_is_read_and_checked_at_its_value() {
        let c = check("app \"a\"\nregistry timeout=\"2mi\"\n");
        assert_eq!(
            c.manifest.registry.timeout.as_ref().map(|t| t.value),
            Some(Duration::from_secs(120))
        );
        assert!(!c.has_errors(), "{:?}", c.problems);
        let c = check("app \"a\"\nregistry timeout=30\n");
        assert_eq!(
            c.manifest.registry.timeout.map(|t| t.value),
            Some(Duration::from_secs(30))
        );
        for bad in ["\"soon\"", "\"0\"", "\"5 years\""] {
            let text = format!("app \"a\"\nregistry timeout={bad}\n");
            let c = check(&text);
            let p = c
                .problems
                .iter()
                .find(|p| p.code == "manifest::duration")
                .unwrap_or_else(|| panic!("{bad}: {:?}", c.problems));
            assert_eq!(&text[p.span.offset()..][..bad.len()], bad);
            assert!(c.manifest.registry.timeout.is_none());
        }
        let c = check("app \"a\"\nregistry deadline=\"5s\"\n");
        assert!(
            c.problems
                .iter()
                .any(|p| p.code == "manifest::unknown-property"),
            "{:?}",
            c.problems
        );
    }
}

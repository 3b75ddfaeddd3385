//! Fleet: bundles travel through an OCI registry and every host converges on one digest.
//!
//! - [`push`]: `mod-wasm push --bundle DIR oci://…` — the bundle's `bundle.lock` and `.wasm`
//!   modules as one artifact (no `.cwasm`: native code is made on each host).
//! - [`stage`]: `deploy --from oci://…` — the tag resolved to a digest, the signature verified
//!   when a key is configured, the artifact pulled with every blob verified, its lock checked
//!   against its layers and every value a template renders checked ([`lock_check`]), the modules
//!   precompiled here with the runtime's engine and `wasm.conf` rendered from the lock: a bundle
//!   folder that [`crate::deploy::deploy`] puts live under this host's own root.
//! - [`follow`]: `deploy --from oci://…:TAG --follow` — the agent that polls the tag.

pub mod follow;
pub mod lock_check;
pub mod push;
pub mod render;
pub mod run;
pub mod stage;

use std::time::Duration;

use mod_wasm_oci::{Cache, OciClient, OciReference, PublicKey};
use wasm_runtime::module_limits::Limit;

use crate::cli::DeployArgs;

use crate::exit::CliError;

/// What a fleet step failed on, and whether trying again can help.
#[derive(Debug)]
pub struct FleetFailure {
    /// Diagnostic code (`oci::…`, `fleet::…`, `deploy::…`).
    pub code: String,
    /// What failed.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
    /// Further detail (Apache's words, the probe's).
    pub details: String,
    /// When the follow agent may try this digest again.
    pub retry: Retry,
}

/// When the follow agent tries a digest again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// A passing problem (registry down, another deploy holds the lock): retry with backoff.
    Backoff,
    /// Not signed yet (signing may follow the push): check again at each poll.
    NextPoll,
    /// This digest is refused (tampered, wrongly signed, failed and rolled back): only a new
    /// digest on the tag is tried.
    TagMoves,
}

impl FleetFailure {
    /// A failure with `code` and `message`, never retried for the same digest.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> FleetFailure {
        FleetFailure {
            code: code.into(),
            message: message.into(),
            help: None,
            details: String::new(),
            retry: Retry::TagMoves,
        }
    }

    /// With a hint.
    pub fn help(mut self, help: impl Into<String>) -> FleetFailure {
        self.help = Some(help.into());
        self
    }

    /// The diagnostic the user sees.
    pub fn to_cli(&self) -> CliError {
        let details = self.details.trim();
        let help = match (&self.help, details.is_empty()) {
            (Some(h), true) => h.clone(),
            (Some(h), false) => format!("{h}\n\n{details}"),
            (None, false) => details.to_string(),
            (None, true) => String::new(),
        };
        let code = self.code.clone();
        if help.is_empty() {
            CliError::user(miette::miette!(code = code, "{}", self.message))
        } else {
            CliError::user(miette::miette!(
                code = code,
                help = help,
                "{}",
                self.message
            ))
        }
    }
}

impl From<mod_wasm_oci::Error> for FleetFailure {
    fn from(e: mod_wasm_oci::Error) -> FleetFailure {
        use mod_wasm_oci::Error as E;
        let retry = match &e {
            // Passing: the registry (or this host's disk) may do better at the next try.
            E::Unreachable { .. }
            | E::Registry { .. }
            | E::Io { .. }
            | E::Timeout { .. }
            | E::Cancelled { .. } => Retry::Backoff,
            E::Unsigned { .. } => Retry::NextPoll,
            _ => Retry::TagMoves,
        };
        FleetFailure {
            code: e.code().to_string(),
            message: e.to_string(),
            help: e.hint(),
            details: String::new(),
            retry,
        }
    }
}

impl From<crate::deploy::Failure> for FleetFailure {
    fn from(f: crate::deploy::Failure) -> FleetFailure {
        let retry = match f.code {
            // Passing, or this host's to fix (a deploy root others may write): try again.
            "deploy::locked" | "deploy::io" | "deploy::unsafe-root" => Retry::Backoff,
            _ => Retry::TagMoves,
        };
        FleetFailure {
            code: f.code.to_string(),
            message: f.message,
            help: f.help,
            details: f.details,
            retry,
        }
    }
}

/// A registry client over the default blob cache, with `insecure` registries on plain HTTP and
/// each operation within `timeout` (`--registry-timeout`; `None`: the default).
pub fn client(insecure: &[String], timeout: Option<Duration>) -> Result<OciClient, FleetFailure> {
    let cache = Cache::open_default()?;
    Ok(OciClient::new(
        cache,
        crate::sources::oci::registry_options(insecure, timeout, None),
    )?)
}

/// The registry client of `deploy --from`: each operation within `--registry-timeout`, else the
/// host manifest's `registry timeout=`; no layer above the host manifest's module-size limit
/// (this host's, never the bundle's). The host manifest was checked by [`run::Ctx::new`]; it is
/// read again here for these two settings only.
pub fn deploy_client(args: &DeployArgs) -> Result<OciClient, FleetFailure> {
    let host = args
        .manifest
        .as_deref()
        .and_then(|path| crate::manifest::load(path).ok())
        .map(|checked| checked.manifest);
    let timeout = args.oci.registry_timeout.or_else(|| {
        host.as_ref()
            .and_then(|m| m.registry.timeout.as_ref().map(|t| t.value))
    });
    let max_module_size = host
        .as_ref()
        .map(|m| m.engine.limits().get(Limit::ModuleSize));
    let cache = Cache::open_default()?;
    Ok(OciClient::new(
        cache,
        crate::sources::oci::registry_options(&args.oci.insecure, timeout, max_module_size),
    )?)
}

/// Parses an `oci://` reference given on the command line.
pub fn reference(text: &str) -> Result<OciReference, FleetFailure> {
    Ok(OciReference::parse(text)?)
}

/// Reads the `--verify-key` public key.
pub fn verify_key(path: Option<&std::path::Path>) -> Result<Option<PublicKey>, FleetFailure> {
    path.map(PublicKey::from_pem_file)
        .transpose()
        .map_err(FleetFailure::from)
}

/// `oci://REG/REPO:TAG@sha256:…` (or without the tag): the reference as recorded for a release.
pub fn recorded_source(reference: &OciReference, digest: &mod_wasm_oci::Digest) -> String {
    match reference.tag() {
        Some(tag) => format!(
            "{}{}/{}:{tag}@{digest}",
            mod_wasm_oci::SCHEME,
            reference.registry(),
            reference.repository()
        ),
        None => reference.with_digest(digest.clone()).to_string(),
    }
}

/// The manifest digest a recorded source names (`…@sha256:…`), if it is an OCI source.
pub fn digest_of_source(source: &str) -> Option<mod_wasm_oci::Digest> {
    if !source.starts_with(mod_wasm_oci::SCHEME) {
        return None;
    }
    source.rsplit_once('@')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_sources_name_tag_and_digest() {
        let d = mod_wasm_oci::Digest::of(b"x");
        let r = reference("oci://127.0.0.1:5000/fleet/app:stable").unwrap();
        let s = recorded_source(&r, &d);
        assert_eq!(s, format!("oci://127.0.0.1:5000/fleet/app:stable@{d}"));
        assert_eq!(OciReference::parse(&s).unwrap().digest(), Some(&d));
        assert_eq!(digest_of_source(&s), Some(d.clone()));
        let pinned = r.with_digest(d.clone());
        assert_eq!(recorded_source(&pinned, &d), pinned.to_string());
        assert_eq!(digest_of_source("/srv/app/bundle"), None);
    }
}

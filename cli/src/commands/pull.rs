//! `mod-wasm pull`: OCI registry support (owned by the OCI work; not built yet).

use crate::cli::PullArgs;
use crate::exit::CliError;
use crate::output::Output;

/// Runs `pull`.
pub fn run(args: &PullArgs, out: &Output) -> Result<(), CliError> {
    let _ = (args, out);
    Err(CliError::user(miette::miette!(
        code = "oci::unsupported",
        help = "OCI support is being built; use local .wasm paths in the manifest for now",
        "`mod-wasm pull` is not yet supported"
    )))
}

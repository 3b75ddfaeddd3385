//! `mod-wasm push`: OCI registry support (owned by the OCI work; not built yet).

use crate::cli::PushArgs;
use crate::exit::CliError;
use crate::output::Output;

/// Runs `push`.
pub fn run(args: &PushArgs, out: &Output) -> Result<(), CliError> {
    let _ = (args, out);
    Err(CliError::user(miette::miette!(
        code = "oci::unsupported",
        help = "OCI support is being built; use local .wasm paths in the manifest for now",
        "`mod-wasm push` is not yet supported"
    )))
}

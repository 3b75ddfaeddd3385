//! `mod-wasm login`: OCI registry support (owned by the OCI work; not built yet).

use crate::cli::LoginArgs;
use crate::exit::CliError;
use crate::output::Output;

/// Runs `login`.
pub fn run(args: &LoginArgs, out: &Output) -> Result<(), CliError> {
    let _ = (args, out);
    Err(CliError::user(miette::miette!(
        code = "oci::unsupported",
        help = "OCI support is being built; use local .wasm paths in the manifest for now",
        "`mod-wasm login` is not yet supported"
    )))
}

//! `mod-wasm man [--out DIR]` (hidden, for packagers): writes the manual pages generated from the
//! clap definitions (clap_mangen), `mod-wasm.1` and one `mod-wasm-COMMAND.1` per command.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::CliError;

/// Runs `man`.
pub fn run(args: &ManArgs) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::user(miette::miette!(
            code = "man::write",
            "cannot write manual pages into {}: {e}",
            args.out.display()
        ))
    };
    std::fs::create_dir_all(&args.out).map_err(fail)?;
    clap_mangen::generate_to(Cli::command(), &args.out).map_err(fail)
}

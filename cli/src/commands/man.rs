//! `mod-wasm man [--out DIR]` (hidden, for packagers): writes the manual pages generated from the
//! clap definitions (clap_mangen), `mod-wasm.1` and one `mod-wasm-COMMAND.1` per command.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::exit::CliError;

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write the pages into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

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

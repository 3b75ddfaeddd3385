//! `mod-wasm completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::CliError;

/// Runs `completions`.
pub fn run(args: &CompletionsArgs) -> Result<(), CliError> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "mod-wasm",
        &mut std::io::stdout(),
    );
    Ok(())
}

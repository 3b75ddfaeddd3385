//! One file per command; [`dispatch`] runs the one the user chose.

pub mod build;
pub mod check;
pub mod completions;
pub mod deploy;
pub mod init;
pub mod login;
pub mod man;
pub mod pull;
pub mod push;
pub mod releases;
pub mod rollback;
pub mod sign;
pub mod status;
pub mod tag;
pub mod up;

use crate::cli::{Cli, Command};
use crate::exit::CliError;
use crate::output::Output;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli, out: &Output) -> Result<(), CliError> {
    match cli.command {
        Command::Init(args) => init::run(&args, out),
        Command::Check(args) => check::run(&args, out),
        Command::Build(args) => build::run(&args, out),
        Command::Up(args) => up::run(&args, out),
        Command::Deploy(args) => deploy::run(&args, out),
        Command::Releases(args) => releases::run(&args, out),
        Command::Rollback(args) => rollback::run(&args, out),
        Command::Status(args) => status::run(&args, out),
        Command::Pull(args) => pull::run(&args, out),
        Command::Push(args) => push::run(&args, out),
        Command::Sign(args) => sign::run(&args, out),
        Command::Tag(args) => tag::run(&args, out),
        Command::Login(args) => login::run(&args, out),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
    }
}

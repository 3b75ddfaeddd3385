//! `mod-wasm`: the CLI that turns a KDL app manifest into a runtime bundle (precompiled modules,
//! `bundle.lock`, an `Include`-able `wasm.conf`) and serves it with Apache.
//!
//! The binary (`main.rs`) only parses the command line and maps failures to exit codes; every
//! piece lives here so the tests can call it.

pub mod apache;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod exit;
pub mod fleet;
pub mod manifest;
pub mod output;
pub mod problem;
pub mod render;
pub mod sources;

use clap::Parser;

/// Runs the CLI with the process's arguments; returns the exit code.
pub fn main_with_args() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage mistakes are the user's: exit 1 (help and --version exit 0).
            return if e.use_stderr() { 1 } else { exit::SUCCESS };
        }
    };
    let out = output::Output::new(cli.quiet, cli.verbose, cli.json);
    out.install_miette();
    match commands::dispatch(cli, &out) {
        Ok(()) => exit::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            let report = match err {
                exit::CliError::User(report) => report,
                exit::CliError::Internal(report) => Some(report),
            };
            if let Some(report) = report {
                if out.json {
                    let value = serde_json::json!({
                        "ok": false,
                        "error": {
                            "code": report.code().map(|c| c.to_string()),
                            "message": report.to_string(),
                            "help": report.help().map(|h| h.to_string()),
                        }
                    });
                    println!("{}", serde_json::to_string_pretty(&value).expect("JSON"));
                } else {
                    eprintln!("{report:?}");
                }
            }
            code
        }
    }
}

//! `mod-wasm rollback`: an earlier release live again, through the same verified switch.

use crate::cli::RollbackArgs;
use crate::exit::CliError;
use crate::output::Output;

use super::deploy::{diagnostic, plan, print_report};

/// Runs `rollback`.
pub fn run(args: &RollbackArgs, out: &Output) -> Result<(), CliError> {
    let root = args.live.root.clone().ok_or_else(|| {
        CliError::user(miette::miette!(
            code = "deploy::root",
            help = "e.g. --root /var/lib/mod-wasm/myapp",
            "rollback needs the deploy root (--root)"
        ))
    })?;
    let plan = plan(&args.live, crate::bundle::absolute(&root))?;
    let report = crate::deploy::rollback(&plan, args.release.as_deref()).map_err(diagnostic)?;
    print_report(&report, "Rolled back: release", out);
    Ok(())
}

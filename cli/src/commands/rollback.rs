//! `mod-wasm rollback`: an earlier release live again, through the same verified switch.

use crate::cli::RollbackArgs;
use crate::exit::CliError;
use crate::output::Output;

use super::deploy::{diagnostic, manifest_block, plan, print_report, resolve_root};

/// Runs `rollback`.
pub fn run(args: &RollbackArgs, out: &Output) -> Result<(), CliError> {
    let (block, app) = match &args.manifest {
        Some(manifest) => {
            // Refuse a manifest with problems (its deploy block included), with every diagnostic.
            let checked = super::check::load_checked(manifest, out)?;
            if checked.has_errors() {
                return Err(CliError::User(None));
            }
            manifest_block(manifest)
        }
        None => (None, String::new()),
    };
    if args.live.root.is_none()
        && block.as_ref().and_then(|b| b.root.as_ref()).is_none()
        && app.is_empty()
    {
        return Err(CliError::user(miette::miette!(
            code = "deploy::root",
            help = "e.g. --root /var/lib/mod-wasm/myapp, or --manifest app.kdl (its deploy { root … }, else /var/lib/mod-wasm/APP)",
            "rollback needs the deploy root (--root or --manifest)"
        )));
    }
    let root = resolve_root(&args.live, block.as_ref(), &app)?;
    let plan = plan(&args.live, block.as_ref(), root)?;
    let report = crate::deploy::rollback(&plan, args.release.as_deref()).map_err(diagnostic)?;
    print_report(&report, "Rolled back: release", out);
    Ok(())
}

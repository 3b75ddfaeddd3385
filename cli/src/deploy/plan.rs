//! A deploy's [`Plan`] from the command line and the manifest's `deploy { }` block — shared by
//! `mod-wasm deploy` (build, or `--bundle`), `deploy --from` and the follow agent, and
//! `rollback`: each setting from its flag, else from the block, else its default.
//!
//! The deploy root is the host's: `--root`, else the host manifest's `deploy { root … }`, else
//! `/var/lib/mod-wasm/APP` for the host's app — a plain name ([`default_root`] refuses others).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Plan;
use super::apachectl::Apachectl;
use super::http::BaseUrl;
use crate::cli::LiveTarget;
use crate::exit::CliError;
use crate::manifest::DeployBlock;
use crate::manifest::value_rules::app_name_problem;

/// Where deploy roots live by default.
pub const ROOTS: &str = "/var/lib/mod-wasm";

/// `/var/lib/mod-wasm/APP`: the Debian-style default deploy root of app `app`, a plain name.
pub fn default_root(app: &str) -> Result<PathBuf, String> {
    match app_name_problem(app) {
        None => Ok(Path::new(ROOTS).join(app)),
        Some(why) => Err(format!(
            "no deploy root for app `{}`: {why}",
            app.escape_debug()
        )),
    }
}

/// The root the host names itself: `--root`, else the manifest's `deploy { root … }`.
pub fn explicit_root(live: &LiveTarget, block: Option<&DeployBlock>) -> Option<PathBuf> {
    live.root
        .clone()
        .or_else(|| block.and_then(|b| b.root.as_ref()).map(|r| r.value.clone()))
        .map(|root| crate::bundle::absolute(&root))
}

/// The deploy root: [`explicit_root`], else `/var/lib/mod-wasm/APP` for the host's app `app`.
pub fn resolve_root(
    live: &LiveTarget,
    block: Option<&DeployBlock>,
    app: &str,
) -> Result<PathBuf, CliError> {
    match explicit_root(live, block) {
        Some(root) => Ok(root),
        None => default_root(app).map_err(|why| {
            CliError::user(miette::miette!(
                code = "deploy::app-name",
                help = "name the app plainly in the manifest (app \"shop\"), or pass --root DIR",
                "{why}"
            ))
        }),
    }
}

/// The plan for `live` (root resolved by the caller): each setting from its flag, else from the
/// manifest's `deploy { }` block, else its default (`--debian` changes the apachectl default).
pub fn plan(
    live: &LiveTarget,
    block: Option<&DeployBlock>,
    root: PathBuf,
) -> Result<Plan, CliError> {
    let bad = |code: &'static str, why: String, help: &str| {
        CliError::user(miette::miette!(
            code = code,
            help = help.to_string(),
            "{why}"
        ))
    };
    let from_block = |get: fn(&DeployBlock) -> Option<&String>| block.and_then(get).cloned();
    let apachectl = match live
        .apachectl
        .clone()
        .or_else(|| from_block(|b| b.apachectl.as_ref().map(|v| &v.value)))
    {
        Some(command) => Apachectl::parse(&command).map_err(|why| {
            bad(
                "deploy::apachectl",
                why,
                "e.g. --apachectl \"/usr/sbin/apache2 -f /etc/apache2/x.conf\"",
            )
        })?,
        None if live.debian => Apachectl::debian(),
        None => Apachectl::parse("apache2ctl").expect("a valid command"),
    };
    let url = live
        .url
        .clone()
        .or_else(|| from_block(|b| b.url.as_ref().map(|v| &v.value)))
        .unwrap_or_else(|| "http://127.0.0.1".to_string());
    let url = BaseUrl::parse(&url)
        .map_err(|why| bad("deploy::url", why, "e.g. --url http://127.0.0.1:8080"))?;
    let lock_wait = live
        .lock_wait
        .clone()
        .or_else(|| from_block(|b| b.lock_wait.as_ref().map(|v| &v.value)))
        .unwrap_or_else(|| "0".to_string());
    let lock_wait = wasm_runtime::units::parse_duration(&lock_wait)
        .or_else(|e| {
            if lock_wait.trim() == "0" {
                Ok(Duration::ZERO)
            } else {
                Err(e)
            }
        })
        .map_err(|why| bad("deploy::lock-wait", why, "e.g. --lock-wait 30s"))?;
    let health = if live.health.is_empty() {
        block
            .map(|b| b.health.iter().map(|h| h.value.clone()).collect())
            .unwrap_or_default()
    } else {
        live.health.clone()
    };
    Ok(Plan {
        root,
        apachectl,
        url,
        keep: block.and_then(|b| b.keep.as_ref()).map_or(5, |k| k.value),
        dry_run: false,
        preflight: block.and_then(|b| b.preflight).unwrap_or(true),
        lock_wait,
        health,
        templates: None,
        check_include: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_root_is_for_plain_app_names_only() {
        assert_eq!(
            default_root("shop").unwrap(),
            Path::new("/var/lib/mod-wasm/shop")
        );
        for bad in ["../x", "/elsewhere", "a/b", "", "x\ny"] {
            assert!(default_root(bad).is_err(), "{bad:?}");
        }
    }
}

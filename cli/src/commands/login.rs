//! `mod-wasm login REGISTRY -u USER --password-stdin`: check the credentials against the
//! registry, then store them where every registry tool looks: the Docker config file
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), or its credential helper.

use std::io::Read;

use serde_json::json;

use mod_wasm_oci::{Cache, DockerConfig, OciClient, RegistryOptions};

use crate::cli::LoginArgs;
use crate::exit::CliError;
use crate::output::Output;

use super::push::user;

/// Runs `login`.
pub fn run(args: &LoginArgs, out: &Output) -> Result<(), CliError> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| {
            CliError::user(miette::miette!(
                code = "login::stdin",
                "cannot read the password from standard input: {e}"
            ))
        })?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CliError::user(miette::miette!(
            code = "login::empty-password",
            help =
                "pipe it in: echo \"$PASSWORD\" | mod-wasm login REGISTRY -u USER --password-stdin",
            "no password on standard input"
        )));
    }
    let registry = args
        .registry
        .trim_start_matches("oci://")
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let config = DockerConfig::locate().ok_or_else(|| {
        CliError::user(miette::miette!(
            code = "login::no-config",
            help = "set DOCKER_CONFIG to a folder for config.json",
            "neither DOCKER_CONFIG nor HOME is set"
        ))
    })?;
    let client = OciClient::new(
        Cache::open_default().map_err(user)?,
        RegistryOptions {
            docker_config: Some(config.clone()),
            ..crate::sources::oci::registry_options(&args.insecure, args.registry_timeout, None)
        },
    )
    .map_err(|e| CliError::internal(miette::miette!("{e}")))?;
    client
        .login(registry, &args.username, password, &config)
        .map_err(user)?;
    out.json(&json!({"ok": true, "registry": registry, "config": config.path()}));
    out.result(format!(
        "Login succeeded: credentials for {registry} stored in {}",
        config.path().display()
    ));
    Ok(())
}

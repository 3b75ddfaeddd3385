//! Credentials from a Docker credential helper (`credHelpers` in the config file): a real
//! helper program speaking the Docker helper protocol, against an htpasswd-protected
//! `docker-registry`. Its own test binary, because it changes `PATH`.

mod common;

use common::{Env, Registry, wasm_module};
use mod_wasm_oci::Layout;

#[test]
fn credential_helper_from_docker_config_is_used() {
    // A real credential helper program (the Docker helper protocol: `get` reads the server on
    // stdin and prints JSON), configured through `credHelpers`.
    let registry = Registry::start_with_auth("carol", "from-helper");
    let env = Env::new();
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-modwasmtest");
    std::fs::write(
        &helper,
        concat!(
            "#!/bin/sh\n",
            "[ \"$1\" = get ] || exit 1\n",
            "read server\n",
            "case \"$server\" in 127.0.0.1:*) ;; *) echo 'credentials not found in native keychain'; exit 1;; esac\n",
            "printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"from-helper\"}' \"$server\"\n",
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg_path = env.docker_config().path().to_path_buf();
    std::fs::create_dir_all(cfg_path.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg_path,
        format!(r#"{{"credHelpers":{{"{}":"modwasmtest"}}}}"#, registry.addr),
    )
    .unwrap();

    // The helper is found on PATH. This binary has this one test, so no other thread reads
    // the environment while it changes.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: the only test of this binary; the registry was started before, nothing else runs.
    unsafe { std::env::set_var("PATH", path) };
    let creds = env.docker_config().credentials(&registry.addr).unwrap();
    assert_eq!(
        creds,
        mod_wasm_oci::Credentials::Basic("carol".into(), "from-helper".into())
    );
    // The global store has nothing for another registry: anonymous, not an error.
    assert_eq!(
        env.docker_config()
            .credentials("elsewhere.example")
            .unwrap(),
        mod_wasm_oci::Credentials::Anonymous
    );
    let reference = registry.reference("helper/mod:v1");
    env.client()
        .push_bytes(wasm_module("helper"), &reference, Layout::Cncf)
        .unwrap();
}

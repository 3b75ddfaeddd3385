//! An htpasswd-protected `docker-registry`: pull and push with credentials from a Docker config
//! file, refused (401, a clear error) without them or with wrong ones; `login` checks the
//! credentials against the registry and writes the same config file.

mod common;

use common::{Env, Registry, read, wasm_module};
use mod_wasm_oci::{DockerConfig, Error, Layout, ModuleRequest, ResolveOptions, no_progress};

#[test]
fn credentials_from_docker_config_are_used_and_required() {
    let registry = Registry::start_with_auth("alice", "s3cret-pw");
    let reference = registry.reference("private/hello:v1");
    let wasm = wasm_module("private");

    // No credentials: push and pull are refused with 401.
    let anonymous = Env::new();
    let err = anonymous
        .client()
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert_eq!(err.code(), "oci::unauthorized");
    assert!(
        err.hint().unwrap().contains("mod-wasm login"),
        "{:?}",
        err.hint()
    );

    // A Docker config file with an `auths` entry, as `docker login` writes it.
    let env = Env::new();
    let cfg_path = env.docker_config().path().to_path_buf();
    std::fs::create_dir_all(cfg_path.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg_path,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.addr,
            base64_of("alice:s3cret-pw")
        ),
    )
    .unwrap();
    let client = env.client();
    client
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap();
    let req = ModuleRequest {
        name: "p".into(),
        reference: reference.clone(),
    };
    let res = client
        .resolve(
            std::slice::from_ref(&req),
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert_eq!(read(&res.modules[0].path), wasm);

    // Pull without credentials: refused, and nothing cached.
    let errors = anonymous
        .client()
        .resolve(
            std::slice::from_ref(&req),
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(errors[0].error, Error::Unauthorized { status: 401, .. }),
        "{}",
        errors[0].error
    );
    assert!(
        !anonymous
            .cache_root()
            .join("blobs/sha256")
            .join(res.modules[0].entry.layer_digest.hex())
            .exists()
    );

    // Wrong password: refused too.
    let wrong = Env::new();
    wrong
        .docker_config()
        .store(&registry.addr, "alice", "wrong")
        .unwrap();
    let errors = wrong
        .client()
        .resolve(
            std::slice::from_ref(&req),
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(errors[0].error, Error::Unauthorized { .. }),
        "{}",
        errors[0].error
    );
}

#[test]
fn login_checks_then_writes_the_docker_config() {
    let registry = Registry::start_with_auth("bob", "hunter2");
    let env = Env::new();
    let client = env.client();
    let cfg = DockerConfig::at(env.dir.path().join("login/config.json"));

    let err = client
        .login(&registry.addr, "bob", "bad", &cfg)
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(!cfg.path().exists(), "a refused login writes nothing");

    client
        .login(&registry.addr, "bob", "hunter2", &cfg)
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cfg.path()).unwrap()).unwrap();
    assert_eq!(
        doc["auths"][&registry.addr]["auth"],
        base64_of("bob:hunter2")
    );

    // A client reading that file can push and pull.
    let reading = mod_wasm_oci::OciClient::new(
        mod_wasm_oci::Cache::new(env.dir.path().join("cache2")),
        mod_wasm_oci::RegistryOptions {
            insecure: vec![],
            docker_config: Some(cfg.clone()),
            ..mod_wasm_oci::RegistryOptions::default()
        },
    )
    .unwrap();
    let reference = registry.reference("team/mod:v1");
    reading
        .push_bytes(wasm_module("login"), &reference, Layout::Cncf)
        .unwrap();
    let req = ModuleRequest {
        name: "x".into(),
        reference,
    };
    assert!(
        reading
            .resolve(&[req], None, &ResolveOptions::default(), &no_progress)
            .is_ok()
    );
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

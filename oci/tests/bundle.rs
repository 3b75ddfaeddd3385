//! Bundles and signatures against a real `docker-registry`: push a bundle and pull it back by
//! digest, promote it with `tag`, refuse a tampered blob and a tampered manifest, sign and verify
//! (unsigned, another key, a signature over another digest).

mod common;

use std::path::Path;

use common::{Env, Registry, read, wasm_component, wasm_module};
use mod_wasm_oci::bundle::{BUNDLE_ARTIFACT_TYPE, TITLE_ANNOTATION};
use mod_wasm_oci::{BundleModule, Digest, Error, OciReference, PrivateKey, PublicKey};

const LOCK: &[u8] = b"{\"format\": \"mod-wasm-bundle/1\", \"app\": \"fleet\"}\n";

fn modules(tag: &str) -> Vec<BundleModule> {
    vec![
        BundleModule {
            title: "hello.wasm".into(),
            bytes: wasm_module(&format!("hello {tag}")),
        },
        BundleModule {
            title: "echo.wasm".into(),
            bytes: wasm_module(&format!("echo {tag}")),
        },
        // Components travel as `application/wasm` layers like core modules.
        BundleModule {
            title: "api.wasm".into(),
            bytes: wasm_component(&format!("api {tag}")),
        },
    ]
}

fn key_pair(dir: &Path, name: &str) -> (PrivateKey, PublicKey) {
    let ec = dir.join(format!("{name}.ec"));
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        ec.to_str().unwrap(),
    ]);
    run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        ec.to_str().unwrap(),
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "ec",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (
        PrivateKey::from_pem_file(&private).unwrap(),
        PublicKey::from_pem_file(&public).unwrap(),
    )
}

#[test]
fn push_pull_tag_round_trip() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("fleet/app:canary");
    let pushed = client
        .push_bundle(LOCK.to_vec(), modules("v1"), &reference)
        .unwrap();
    assert_eq!(pushed.config_digest, Digest::of(LOCK));
    // Deterministic: the same bundle, the same digest.
    let again = client
        .push_bundle(LOCK.to_vec(), modules("v1"), &reference)
        .unwrap();
    assert_eq!(again.manifest_digest, pushed.manifest_digest);
    assert_eq!(
        client.resolve_digest(&reference).unwrap(),
        pushed.manifest_digest
    );

    // The manifest as stored: artifact type, config type, titled application/wasm layers.
    let stored = read(&registry.blob_file(&pushed.manifest_digest));
    let m: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(m["artifactType"], BUNDLE_ARTIFACT_TYPE);
    assert_eq!(m["config"]["mediaType"], BUNDLE_ARTIFACT_TYPE);
    let titles: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["mediaType"], "application/wasm");
            l["annotations"][TITLE_ANNOTATION].as_str().unwrap()
        })
        .collect();
    assert_eq!(titles, ["hello.wasm", "echo.wasm", "api.wasm"]);

    let pinned = reference.with_digest(pushed.manifest_digest.clone());
    let pulled = client.pull_bundle(&pinned).unwrap();
    assert_eq!(pulled.config, LOCK);
    assert_eq!(pulled.layers.len(), 3);
    for ((layer, path), module) in pulled.layers.iter().zip(modules("v1")) {
        assert_eq!(layer.title, module.title);
        assert_eq!(read(path), module.bytes);
    }
    // By tag is refused: a bundle is pulled by digest.
    assert!(matches!(
        client.pull_bundle(&reference),
        Err(Error::InvalidReference { .. })
    ));

    // Promote: `stable` names the same digest.
    let (stable, digest) = client.tag(&pinned, "stable").unwrap();
    assert_eq!(digest, pushed.manifest_digest);
    assert_eq!(stable.tag(), Some("stable"));
    assert_eq!(
        client
            .resolve_digest(&registry.reference("fleet/app:stable"))
            .unwrap(),
        pushed.manifest_digest
    );
    // A module artifact is not a bundle.
    let module_ref = registry.reference("fleet/module:1");
    let m = client
        .push_bytes(wasm_module("m"), &module_ref, mod_wasm_oci::Layout::Cncf)
        .unwrap();
    let err = client
        .pull_bundle(&module_ref.with_digest(m.manifest_digest))
        .unwrap_err();
    assert_eq!(err.code(), "oci::not-a-bundle", "{err}");
}

#[test]
fn tampered_blob_and_tampered_manifest_are_refused_with_their_own_codes() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("fleet/app:v1");
    let pushed = client
        .push_bundle(LOCK.to_vec(), modules("tamper"), &reference)
        .unwrap();
    let pinned = reference.with_digest(pushed.manifest_digest.clone());

    let blob = registry.blob_file(&pushed.layers[1].digest);
    let mut evil = read(&blob);
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::write(&blob, &evil).unwrap();
    let err = client.pull_bundle(&pinned).unwrap_err();
    assert_eq!(err.code(), "oci::digest-mismatch", "{err}");
    assert!(
        !env.cache_root()
            .join("blobs/sha256")
            .join(pushed.layers[1].digest.hex())
            .exists()
    );

    // The manifest in storage now names another layer digest: it no longer hashes to the pin.
    let manifest = registry.blob_file(&pushed.manifest_digest);
    let text = String::from_utf8(read(&manifest)).unwrap();
    let other = Digest::of(b"something else");
    std::fs::write(
        &manifest,
        text.replace(&pushed.layers[0].digest.to_string(), &other.to_string()),
    )
    .unwrap();
    let err = Env::new().client().pull_bundle(&pinned).unwrap_err();
    assert_eq!(err.code(), "oci::manifest-mismatch", "{err}");
    // Through the tag too: the registry's digest and the bytes disagree.
    let err = Env::new().client().resolve_digest(&reference).unwrap_err();
    assert_eq!(err.code(), "oci::manifest-mismatch", "{err}");
}

#[test]
fn signatures_verify_with_the_right_key_only() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), "release");
    let (other_private, other_public) = key_pair(keys.path(), "other");
    let reference = registry.reference("fleet/app:v1");
    let pushed = client
        .push_bundle(LOCK.to_vec(), modules("signed"), &reference)
        .unwrap();
    let pinned = reference.with_digest(pushed.manifest_digest.clone());

    let err = client.verify(&pinned, &public).unwrap_err();
    assert_eq!(err.code(), "oci::unsigned", "{err}");

    let signed = client.sign(&pinned, &private).unwrap();
    assert_eq!(
        signed.signature.tag(),
        Some(format!("sha256-{}.sig", pushed.manifest_digest.hex()).as_str())
    );
    assert_eq!(signed.count, 1);
    client.verify(&pinned, &public).unwrap();
    let err = client.verify(&pinned, &other_public).unwrap_err();
    assert_eq!(err.code(), "oci::bad-signature", "{err}");

    // Signing again with the same key adds nothing; another key adds a signature, and
    // either key then verifies.
    assert_eq!(client.sign(&pinned, &private).unwrap().count, 1);
    assert_eq!(client.sign(&pinned, &other_private).unwrap().count, 2);
    client.verify(&pinned, &other_public).unwrap();
    client.verify(&pinned, &public).unwrap();

    // A signature over another digest, copied to this digest's signature tag, is refused.
    let second = client
        .push_bundle(
            LOCK.to_vec(),
            modules("second"),
            &registry.reference("fleet/app:v2"),
        )
        .unwrap();
    let second_pinned: OciReference = reference.with_digest(second.manifest_digest.clone());
    let sig_manifest =
        read(&registry.blob_file(&client.resolve_digest(&signed.signature).unwrap()));
    common::RawPush::new(&registry).manifest(
        "fleet/app",
        &format!("sha256-{}.sig", second.manifest_digest.hex()),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::from_slice(&sig_manifest).unwrap(),
    );
    let err = client.verify(&second_pinned, &public).unwrap_err();
    assert_eq!(err.code(), "oci::bad-signature", "{err}");
    assert!(err.to_string().contains("covers"), "{err}");
}

#[test]
fn bundles_and_signatures_use_docker_config_credentials() {
    use base64::Engine as _;
    let registry = Registry::start_with_auth("fleet", "pa55-word");
    let reference = registry.reference("fleet/private:v1");
    let err = Env::new()
        .client()
        .push_bundle(LOCK.to_vec(), modules("private"), &reference)
        .unwrap_err();
    assert_eq!(err.code(), "oci::unauthorized", "{err}");

    let env = Env::new();
    let cfg = env.docker_config().path().to_path_buf();
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("fleet:pa55-word");
    std::fs::write(
        &cfg,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let client = env.client();
    let pushed = client
        .push_bundle(LOCK.to_vec(), modules("private"), &reference)
        .unwrap();
    let pinned = reference.with_digest(pushed.manifest_digest.clone());
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), "k");
    client.sign(&pinned, &private).unwrap();
    client.verify(&pinned, &public).unwrap();
    assert_eq!(client.pull_bundle(&pinned).unwrap().config, LOCK);
    client.tag(&pinned, "stable").unwrap();
    let err = Env::new().client().pull_bundle(&pinned).unwrap_err();
    assert_eq!(err.code(), "oci::unauthorized", "{err}");
}

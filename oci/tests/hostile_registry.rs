//! Bounded registry I/O against a hostile registry of the tests' own ([`hostile`]): manifests,
//! signature manifests and bundle configs are capped at 4 MiB while they stream, a layer whose
//! declared size passes the module-size limit is never downloaded, a blob longer than it
//! declared is cut off at its declared size, every blob is digest-verified, and a registry that
//! trickles one byte every two seconds ends with the operation's deadline (or a stop) instead of
//! hanging. Each test asserts what the server managed to send, not only the error.

mod hostile;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hostile::{Body, Hostile, OCI_MANIFEST, Reply, module_manifest, within};
use mod_wasm_oci::{
    Cache, Digest, Error, ModuleRequest, OciClient, OciReference, RegistryOptions, ResolveOptions,
    no_progress,
};

const MIB: u64 = 1 << 20;
/// What a hostile body offers: far more than any cap.
const FLOOD: u64 = 64 * MIB;
/// What may reach the client before it hangs up: the 4 MiB cap plus the kernel's socket buffers
/// on both ends, far below [`FLOOD`].
const BOUNDED: u64 = 24 * MIB;
/// "Did not hang": a generous guard, never a precise timing.
const GUARD: Duration = Duration::from_secs(60);

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cache(&self) -> Cache {
        Cache::new(self.dir.path().join("cache"))
    }

    fn options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: vec![],
            docker_config: Some(mod_wasm_oci::DockerConfig::at(
                self.dir.path().join("docker/config.json"),
            )),
            timeout: Duration::from_secs(2),
            ..RegistryOptions::default()
        }
    }

    fn client(&self) -> OciClient {
        OciClient::new(self.cache(), self.options()).unwrap()
    }

    fn client_with(&self, f: impl FnOnce(&mut RegistryOptions)) -> OciClient {
        let mut options = self.options();
        f(&mut options);
        OciClient::new(self.cache(), options).unwrap()
    }
}

fn pull_module(client: &OciClient, reference: &OciReference) -> Error {
    let requests = [ModuleRequest {
        name: "m".into(),
        reference: reference.clone(),
    }];
    let mut errors = client
        .resolve(&requests, None, &ResolveOptions::default(), &no_progress)
        .expect_err("the pull should fail");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0).error
}

fn flood_manifest(declared: Option<u64>) -> Hostile {
    Hostile::start(move |_, path| {
        if path.contains("/manifests/") {
            Reply::body(
                OCI_MANIFEST,
                Body::Flood {
                    len: FLOOD,
                    byte: b' ',
                    declared,
                },
            )
        } else {
            Reply::not_found()
        }
    })
}

#[test]
fn an_endless_manifest_is_cut_off_at_4_mib_while_it_streams() {
    let registry = flood_manifest(None);
    let env = Env::new();
    let reference = registry.reference("wasm/flood:1");
    let err = within(GUARD, move || env.client().resolve_digest(&reference)).unwrap_err();
    assert_eq!(err.code(), "oci::too-large", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("4194304 bytes") || text.contains("4 MiB"),
        "{text}"
    );
    assert!(text.contains(&registry.addr), "names the registry: {text}");
    let sent = registry.sent();
    eprintln!("endless manifest: {sent} bytes sent of {FLOOD}");
    assert!(sent < BOUNDED, "the client read on: {sent} bytes sent");
}

#[test]
fn a_manifest_declaring_more_than_4_mib_is_refused_unread() {
    let registry = flood_manifest(Some(FLOOD));
    let env = Env::new();
    let reference = registry.reference("wasm/flood:1");
    let err = within(GUARD, {
        let env_client = env.client();
        move || pull_module(&env_client, &reference)
    });
    assert_eq!(err.code(), "oci::too-large", "{err}");
    let sent = registry.sent();
    assert!(sent < BOUNDED, "{sent} bytes sent");
    assert_eq!(
        registry.requests_for("/blobs/"),
        0,
        "{:?}",
        registry.requests()
    );
}

#[test]
fn an_endless_signature_manifest_is_cut_off_too() {
    let subject = module_manifest(&Digest::of(b"x"), 1);
    let subject_digest = Digest::of(&subject);
    let sig_tag = format!("sha256-{}.sig", subject_digest.hex());
    let registry = Hostile::start(move |_, path| {
        if path.ends_with(&sig_tag) {
            Reply::body(
                OCI_MANIFEST,
                Body::Flood {
                    len: FLOOD,
                    byte: b' ',
                    declared: None,
                },
            )
        } else if path.contains("/manifests/") {
            Reply::ok(OCI_MANIFEST, subject.clone())
        } else {
            Reply::not_found()
        }
    });
    let env = Env::new();
    let key_dir = tempfile::tempdir().unwrap();
    let key = write_public_key(key_dir.path());
    let pinned = registry
        .reference("fleet/app:1")
        .with_digest(subject_digest);
    let err = within(GUARD, {
        let client = env.client();
        move || client.verify(&pinned, &key)
    })
    .unwrap_err();
    assert_eq!(err.code(), "oci::too-large", "{err}");
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(registry.sent() < BOUNDED, "{} bytes sent", registry.sent());
}

fn write_public_key(dir: &std::path::Path) -> mod_wasm_oci::PublicKey {
    // A fixed P-256 public key (any key: the signature manifest never gets that far).
    let pem = "-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n\
q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n\
-----END PUBLIC KEY-----\n";
    let path = dir.join("key.pub");
    std::fs::write(&path, pem).unwrap();
    mod_wasm_oci::PublicKey::from_pem_file(&path).unwrap()
}

/// A registry whose tag names a module manifest with a layer of `declared` bytes and whose blob
/// endpoint answers with `blob`.
fn module_registry(
    layer: Digest,
    declared: u64,
    blob: impl Fn() -> Reply + Send + Sync + 'static,
) -> Hostile {
    let manifest = module_manifest(&layer, declared);
    Hostile::start(move |_, path| {
        if path.contains("/manifests/") {
            Reply::ok(OCI_MANIFEST, manifest.clone())
        } else if path.contains("/blobs/") {
            blob()
        } else {
            Reply::not_found()
        }
    })
}

#[test]
fn a_layer_declared_above_the_module_size_limit_is_never_downloaded() {
    // The default limit (the runtime's module-size, 256 MiB) and a smaller one set by the caller.
    for (limit, declared) in [(None, 257 * MIB), (Some(MIB), MIB + 1)] {
        let registry = module_registry(Digest::of(b"big"), declared, || Reply {
            status: 200,
            headers: vec![],
            body: Body::Flood {
                len: FLOOD,
                byte: 0,
                declared: None,
            },
        });
        let env = Env::new();
        let client = env.client_with(|o| {
            if let Some(l) = limit {
                o.max_blob_size = l;
            }
        });
        let reference = registry.reference("wasm/big:1");
        let err = within(GUARD, move || pull_module(&client, &reference));
        assert_eq!(err.code(), "oci::too-large", "{err}");
        assert!(err.to_string().contains(&declared.to_string()), "{err}");
        assert_eq!(
            registry.requests_for("/blobs/"),
            0,
            "downloaded anyway: {:?}",
            registry.requests()
        );
    }
}

#[test]
fn a_blob_longer_than_declared_is_cut_off_at_its_declared_size() {
    // Chunked (no length announced) and with a Content-Length that admits the lie.
    for declared_length in [None, Some(FLOOD)] {
        let registry = module_registry(Digest::of(b"small"), 1024, move || Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body: Body::Flood {
                len: FLOOD,
                byte: 0,
                declared: declared_length,
            },
        });
        let env = Env::new();
        let client = env.client();
        let reference = registry.reference("wasm/small:1");
        let err = within(GUARD, move || pull_module(&client, &reference));
        assert_eq!(err.code(), "oci::size-mismatch", "{err}");
        assert!(registry.requests_for("/blobs/") >= 1);
        let sent = registry.sent();
        eprintln!("blob longer than declared ({declared_length:?}): {sent} bytes sent of {FLOOD}");
        assert!(sent < BOUNDED, "{declared_length:?}: {sent} bytes sent");
        // Nothing unverified reached the cache.
        assert!(env.cache().get(&Digest::of(b"small")).unwrap().is_none());
    }
}

#[test]
fn a_blob_of_the_declared_size_with_other_bytes_is_refused_by_its_digest() {
    let good = b"\0asm\x01\0\0\0".to_vec();
    let digest = Digest::of(&good);
    let registry = module_registry(digest.clone(), good.len() as u64, || {
        Reply::ok("application/octet-stream", b"\0asm\x01\0\0\x01".to_vec())
    });
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("wasm/tampered:1");
    let err = within(GUARD, move || pull_module(&client, &reference));
    assert_eq!(err.code(), "oci::digest-mismatch", "{err}");
    assert!(env.cache().get(&digest).unwrap().is_none());
}

fn trickle() -> Reply {
    Reply::body(
        OCI_MANIFEST,
        Body::Trickle {
            len: 1000,
            byte: b' ',
            every: Duration::from_secs(2),
        },
    )
}

#[test]
fn a_trickling_manifest_ends_with_the_deadline_naming_registry_and_operation() {
    let registry = Hostile::start(|_, path| {
        if path.contains("/manifests/") {
            trickle()
        } else {
            Reply::not_found()
        }
    });
    let env = Env::new();
    let reference = registry.reference("wasm/slow:1");
    let err = within(GUARD, move || env.client().resolve_digest(&reference)).unwrap_err();
    assert_eq!(err.code(), "oci::timeout", "{err}");
    let text = err.to_string();
    assert!(text.contains(&registry.addr), "names the registry: {text}");
    assert!(text.contains("wasm/slow:1"), "names the operation: {text}");
    assert!(text.contains("2s"), "names the deadline: {text}");
}

#[test]
fn a_trickling_blob_ends_with_the_deadline_too() {
    let wasm = b"\0asm\x01\0\0\0".to_vec();
    let registry = module_registry(Digest::of(&wasm), 1000, || Reply {
        status: 200,
        headers: vec![],
        body: Body::Trickle {
            len: 1000,
            byte: 0,
            every: Duration::from_secs(2),
        },
    });
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("wasm/slow:1");
    let err = within(GUARD, move || pull_module(&client, &reference));
    assert_eq!(err.code(), "oci::timeout", "{err}");
    assert!(err.to_string().contains("module `m`"), "{err}");
    assert_eq!(registry.requests_for("/blobs/"), 1);
}

#[test]
fn a_stop_ends_an_operation_stalled_on_the_registry() {
    let registry = Hostile::start(|_, path| {
        if path.contains("/manifests/") {
            trickle()
        } else {
            Reply::not_found()
        }
    });
    let env = Env::new();
    // A deadline far away: only the stop can end it within the guard.
    let client = env.client_with(|o| o.timeout = Duration::from_secs(3600));
    let stop = client.stop_flag();
    let reference = registry.reference("wasm/slow:1");
    let stopper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            stop.store(true, Ordering::SeqCst);
        })
    };
    let err = within(GUARD, move || client.resolve_digest(&reference)).unwrap_err();
    stopper.join().unwrap();
    assert_eq!(err.code(), "oci::cancelled", "{err}");
    assert!(registry.requests_for("/manifests/") >= 1);
}

#[test]
fn a_bundle_config_declared_above_4_mib_is_never_downloaded() {
    let layer = b"\0asm\x01\0\0\0".to_vec();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.mod-wasm.bundle.v1+json",
        "config": {
            "mediaType": "application/vnd.mod-wasm.bundle.v1+json",
            "digest": Digest::of(b"lock").to_string(),
            "size": 5 * MIB,
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": Digest::of(&layer).to_string(),
            "size": layer.len(),
            "annotations": {"org.opencontainers.image.title": "hello.wasm"},
        }],
    }))
    .unwrap();
    let digest = Digest::of(&manifest);
    let registry = Hostile::start(move |_, path| {
        if path.contains("/manifests/") {
            Reply::ok(OCI_MANIFEST, manifest.clone())
        } else {
            Reply::body(
                "application/octet-stream",
                Body::Flood {
                    len: FLOOD,
                    byte: b' ',
                    declared: None,
                },
            )
        }
    });
    let env = Env::new();
    let client = env.client();
    let pinned = registry.reference("fleet/app:1").with_digest(digest);
    let err = within(GUARD, move || client.pull_bundle(&pinned)).unwrap_err();
    assert_eq!(err.code(), "oci::too-large", "{err}");
    assert!(err.to_string().contains("bundle.lock"), "{err}");
    assert_eq!(
        registry.requests_for("/blobs/"),
        0,
        "{:?}",
        registry.requests()
    );
}

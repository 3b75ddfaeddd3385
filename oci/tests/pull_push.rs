//! Push and pull against a real `docker-registry`: round trip, digest pinning, the lock file
//! with a tag that moves (with and without update, and `locked`), a tampered blob, an unknown
//! tag, and offline builds from the cache after the registry is gone.

mod common;

use common::{Env, Registry, read, wasm_component, wasm_module};
use mod_wasm_oci::{
    Error, Layout, LockFile, ModuleRequest, OciReference, ResolveOptions, Update, no_progress,
};

fn request(name: &str, reference: &OciReference) -> ModuleRequest {
    ModuleRequest {
        name: name.to_string(),
        reference: reference.clone(),
    }
}

fn only_error(result: Result<mod_wasm_oci::Resolution, Vec<mod_wasm_oci::ModuleError>>) -> Error {
    let mut errors = result.expect_err("resolution should fail");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0).error
}

#[test]
fn push_then_pull_round_trip_fills_cache_and_lock() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let wasm = wasm_module("round-trip");
    let file = env.dir.path().join("hello.wasm");
    std::fs::write(&file, &wasm).unwrap();
    let reference = registry.reference("wasm/hello:v1");

    let pushed = client.push_file(&file, &reference, Layout::Cncf).unwrap();
    assert_eq!(pushed.layer_digest, mod_wasm_oci::Digest::of(&wasm));
    // Same bytes, same manifest: pushing twice gives the same digest.
    assert_eq!(
        client
            .push_file(&file, &reference, Layout::Cncf)
            .unwrap()
            .manifest_digest,
        pushed.manifest_digest
    );

    let events = std::sync::Mutex::new(Vec::new());
    let record = |e: mod_wasm_oci::ProgressEvent<'_>| events.lock().unwrap().push(format!("{e:?}"));
    let res = client
        .resolve(
            &[request("hello", &reference)],
            None,
            &ResolveOptions::default(),
            &record,
        )
        .unwrap();
    assert!(res.lock_changed);
    let m = &res.modules[0];
    assert!(m.downloaded);
    assert_eq!(read(&m.path), wasm);
    assert_eq!(m.entry.manifest_digest, pushed.manifest_digest);
    assert_eq!(m.entry.layer_digest, pushed.layer_digest);
    assert_eq!(m.entry.size, wasm.len() as u64);
    assert_eq!(m.entry.media_type, "application/wasm");
    assert_eq!(m.entry.reference, reference.to_string());
    assert!(m.path.starts_with(env.cache_root().join("blobs/sha256")));
    let events = events.into_inner().unwrap();
    assert!(
        events.iter().any(|e| e.starts_with("Downloading")),
        "{events:?}"
    );
    assert!(
        events.last().unwrap().contains("from_cache: false"),
        "{events:?}"
    );

    // Write and reload the lock; a second resolution is served from the cache, lock unchanged.
    let lock_path = env.dir.path().join("app.lock");
    res.lock.write(&lock_path).unwrap();
    let lock = LockFile::load(&lock_path).unwrap().unwrap();
    let again = client
        .resolve(
            &[request("hello", &reference)],
            Some(&lock),
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert!(!again.lock_changed);
    assert!(!again.modules[0].downloaded);
}

#[test]
fn legacy_push_layout_is_pulled_with_its_media_type() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let wasm = wasm_module("legacy");
    let reference = registry.reference("wasm/legacy:1.0");
    client
        .push_bytes(wasm.clone(), &reference, Layout::Legacy)
        .unwrap();
    let res = client
        .resolve(
            &[request("legacy", &reference)],
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert_eq!(
        res.modules[0].entry.media_type,
        "application/vnd.wasm.content.layer.v1+wasm"
    );
    assert_eq!(read(&res.modules[0].path), wasm);
}

/// A component (`\0asm 0d 00 01 00`): pushed from a file in the CNCF layout with `os` `wasip2`
/// (a core module is `wasip1`), and in the legacy layout; pulled back byte for byte from both.
#[test]
fn a_component_round_trips_in_both_layouts() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let component = wasm_component("round trip");
    assert_eq!(&component[4..8], &[0x0d, 0x00, 0x01, 0x00]);
    let file = env.dir.path().join("api.wasm");
    std::fs::write(&file, &component).unwrap();

    for (tag, layout, layer_type, os) in [
        ("cncf", Layout::Cncf, "application/wasm", Some("wasip2")),
        (
            "legacy",
            Layout::Legacy,
            "application/vnd.wasm.content.layer.v1+wasm",
            None,
        ),
    ] {
        let reference = registry.reference(&format!("wasm/api:{tag}"));
        let pushed = client.push_file(&file, &reference, layout).unwrap();
        assert_eq!(pushed.layer_digest, mod_wasm_oci::Digest::of(&component));
        // What the registry stores: the manifest names one layer of the component's digest, and
        // the CNCF config says which WASI the artifact targets.
        let manifest: serde_json::Value =
            serde_json::from_slice(&read(&registry.blob_file(&pushed.manifest_digest))).unwrap();
        assert_eq!(
            manifest["layers"].as_array().unwrap().len(),
            1,
            "{manifest}"
        );
        assert_eq!(manifest["layers"][0]["mediaType"], layer_type);
        assert_eq!(
            manifest["layers"][0]["digest"],
            pushed.layer_digest.to_string()
        );
        if let Some(os) = os {
            let config_digest: mod_wasm_oci::Digest = manifest["config"]["digest"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let config: serde_json::Value =
                serde_json::from_slice(&read(&registry.blob_file(&config_digest))).unwrap();
            assert_eq!(config["os"], os, "{config}");
            assert_eq!(config["architecture"], "wasm");
            assert_eq!(
                config["layerDigests"],
                serde_json::json!([pushed.layer_digest.to_string()])
            );
        }

        let res = client
            .resolve(
                &[request("api", &reference)],
                None,
                &ResolveOptions::default(),
                &no_progress,
            )
            .unwrap();
        let m = &res.modules[0];
        assert_eq!(m.entry.media_type, layer_type);
        assert_eq!(m.entry.manifest_digest, pushed.manifest_digest);
        assert_eq!(read(&m.path), component, "{tag}");
    }
}

#[test]
fn moved_tag_keeps_locked_build_until_updated() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("wasm/app:stable");
    let v1 = wasm_module("version one");
    let v2 = wasm_module("version two");
    let pushed1 = client
        .push_bytes(v1.clone(), &reference, Layout::Cncf)
        .unwrap();
    let reqs = [request("app", &reference)];
    let first = client
        .resolve(&reqs, None, &ResolveOptions::default(), &no_progress)
        .unwrap();
    let lock = first.lock;

    // The tag moves.
    let pushed2 = client
        .push_bytes(v2.clone(), &reference, Layout::Cncf)
        .unwrap();
    assert_ne!(pushed1.manifest_digest, pushed2.manifest_digest);

    // Without update: the lock wins, even with an empty cache (download by the pinned digest).
    std::fs::remove_dir_all(env.cache_root()).unwrap();
    let locked = client
        .resolve(&reqs, Some(&lock), &ResolveOptions::default(), &no_progress)
        .unwrap();
    assert!(!locked.lock_changed);
    assert!(locked.modules[0].downloaded);
    assert_eq!(read(&locked.modules[0].path), v1);

    // --locked without update is also fine: nothing changes.
    let strict = ResolveOptions {
        locked: true,
        ..Default::default()
    };
    assert!(
        client
            .resolve(&reqs, Some(&lock), &strict, &no_progress)
            .is_ok()
    );

    // --locked with an update that would move the pin fails, naming the module.
    let strict_update = ResolveOptions {
        locked: true,
        update: Update::All,
        ..Default::default()
    };
    match only_error(client.resolve(&reqs, Some(&lock), &strict_update, &no_progress)) {
        Error::LockWouldChange { module, reason } => {
            assert_eq!(module, "app");
            assert!(
                reason.contains(&pushed2.manifest_digest.to_string()),
                "{reason}"
            );
        }
        other => panic!("unexpected {other}"),
    }

    // Update this module: the new tag target is resolved and the lock changes.
    let update = ResolveOptions {
        update: Update::Modules(vec!["app".into()]),
        ..Default::default()
    };
    let updated = client
        .resolve(&reqs, Some(&lock), &update, &no_progress)
        .unwrap();
    assert!(updated.lock_changed);
    assert_eq!(
        updated.lock.get("app").unwrap().manifest_digest,
        pushed2.manifest_digest
    );
    assert_eq!(read(&updated.modules[0].path), v2);

    // Updating another module leaves this one pinned.
    let other = ResolveOptions {
        update: Update::Modules(vec!["nope".into()]),
        ..Default::default()
    };
    let kept = client
        .resolve(&reqs, Some(&lock), &other, &no_progress)
        .unwrap();
    assert_eq!(
        kept.lock.get("app").unwrap().manifest_digest,
        pushed1.manifest_digest
    );
}

#[test]
fn pinned_digest_ignores_the_tag() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let tagged = registry.reference("wasm/pin:latest");
    let v1 = wasm_module("pinned one");
    let pushed1 = client
        .push_bytes(v1.clone(), &tagged, Layout::Cncf)
        .unwrap();
    client
        .push_bytes(wasm_module("pinned two"), &tagged, Layout::Cncf)
        .unwrap();
    let pinned = tagged.with_digest(pushed1.manifest_digest.clone());
    let res = client
        .resolve(
            &[request("pin", &pinned)],
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert_eq!(read(&res.modules[0].path), v1);
    assert_eq!(
        res.modules[0].entry.manifest_digest,
        pushed1.manifest_digest
    );
    assert_eq!(res.modules[0].entry.tag, None);

    // A digest the repository does not have is an unknown manifest.
    let missing = tagged.with_digest(mod_wasm_oci::Digest::of(b"nothing"));
    let err = only_error(client.resolve(
        &[request("pin", &missing)],
        None,
        &ResolveOptions::default(),
        &no_progress,
    ));
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn unknown_tag_and_locked_without_entry_fail_and_write_nothing() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let known = registry.reference("wasm/known:v1");
    client
        .push_bytes(wasm_module("known"), &known, Layout::Cncf)
        .unwrap();

    let unknown = registry.reference("wasm/known:v9");
    let reqs = [request("known", &known), request("typo", &unknown)];
    let errors = client
        .resolve(&reqs, None, &ResolveOptions::default(), &no_progress)
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].module, "typo");
    assert!(
        matches!(errors[0].error, Error::NotFound { .. }),
        "{}",
        errors[0].error
    );
    assert_eq!(errors[0].error.code(), "oci::not-found");

    let strict = ResolveOptions {
        locked: true,
        ..Default::default()
    };
    match only_error(client.resolve(&[request("known", &known)], None, &strict, &no_progress)) {
        Error::LockWouldChange { module, .. } => assert_eq!(module, "known"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn tampered_blob_is_refused_and_not_cached() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let reference = registry.reference("wasm/tamper:v1");
    let wasm = wasm_module("genuine");
    let pushed = client
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap();

    // Rewrite the stored blob on disk: same length, different bytes.
    let blob = registry.blob_file(&pushed.layer_digest);
    let mut evil = read(&blob);
    assert_eq!(
        evil,
        wasm,
        "the registry stores the blob at {}",
        blob.display()
    );
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::write(&blob, &evil).unwrap();

    let err = only_error(client.resolve(
        &[request("t", &reference)],
        None,
        &ResolveOptions::default(),
        &no_progress,
    ));
    match &err {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(*expected, pushed.layer_digest.to_string());
            assert_eq!(*actual, mod_wasm_oci::Digest::of(&evil).to_string());
        }
        other => panic!("unexpected {other}"),
    }
    let cache = mod_wasm_oci::Cache::new(env.cache_root());
    assert!(
        !cache.blob_path(&pushed.layer_digest).exists(),
        "a tampered blob never enters the cache"
    );
    let tmp = env.cache_root().join("tmp");
    assert_eq!(
        std::fs::read_dir(tmp).map(|d| d.count()).unwrap_or(0),
        0,
        "no temporary leftovers"
    );
}

#[test]
fn registry_gone_offline_build_uses_the_cache() {
    let mut registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let tagged = registry.reference("wasm/offline:v1");
    let wasm = wasm_module("offline");
    let pushed = client
        .push_bytes(wasm.clone(), &tagged, Layout::Cncf)
        .unwrap();
    let pinned = tagged.with_digest(pushed.manifest_digest.clone());
    let reqs = [request("off", &tagged)];
    let lock = client
        .resolve(&reqs, None, &ResolveOptions::default(), &no_progress)
        .unwrap()
        .lock;
    // Cache the pinned reference's manifest as well.
    client
        .resolve(
            &[request("pinned", &pinned)],
            None,
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    registry.stop();

    let offline = ResolveOptions {
        offline: true,
        ..Default::default()
    };
    let res = client
        .resolve(&reqs, Some(&lock), &offline, &no_progress)
        .unwrap();
    assert_eq!(read(&res.modules[0].path), wasm);
    assert!(!res.lock_changed);
    // Online but locked and cached: no registry request is needed either.
    assert!(
        client
            .resolve(&reqs, Some(&lock), &ResolveOptions::default(), &no_progress)
            .is_ok()
    );
    // A digest-pinned reference resolves offline from the cached manifest without a lock.
    let res = client
        .resolve(&[request("pinned", &pinned)], None, &offline, &no_progress)
        .unwrap();
    assert_eq!(res.modules[0].entry.layer_digest, pushed.layer_digest);

    // Offline, a tag without a lock entry cannot be resolved.
    let err = only_error(client.resolve(&reqs, None, &offline, &no_progress));
    assert!(matches!(err, Error::NotCached { .. }), "{err}");
    // Online, the stopped registry is unreachable.
    let err = only_error(client.resolve(&reqs, None, &ResolveOptions::default(), &no_progress));
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    // Offline with a lock but an emptied cache: not cached.
    std::fs::remove_dir_all(env.cache_root()).unwrap();
    let err = only_error(client.resolve(&reqs, Some(&lock), &offline, &no_progress));
    assert!(matches!(err, Error::NotCached { .. }), "{err}");
}

#[test]
fn several_modules_resolve_in_parallel() {
    let registry = Registry::start();
    let env = Env::new();
    let client = env.client();
    let mut reqs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..6 {
        let r = registry.reference(&format!("wasm/m{i}:v1"));
        let wasm = wasm_module(&format!("module {i}"));
        client.push_bytes(wasm.clone(), &r, Layout::Cncf).unwrap();
        reqs.push(request(&format!("m{i}"), &r));
        expected.push(wasm);
    }
    let opts = ResolveOptions {
        max_parallel: 3,
        ..Default::default()
    };
    let res = client.resolve(&reqs, None, &opts, &no_progress).unwrap();
    assert_eq!(res.modules.len(), 6);
    for (m, wasm) in res.modules.iter().zip(&expected) {
        assert_eq!(&read(&m.path), wasm, "{}", m.name);
    }
    assert_eq!(res.lock.modules.len(), 6);

    // A module removed from the manifest drops out of the lock; `locked` refuses that.
    let fewer = &reqs[..5];
    let res2 = client
        .resolve(
            fewer,
            Some(&res.lock),
            &ResolveOptions::default(),
            &no_progress,
        )
        .unwrap();
    assert!(res2.lock_changed);
    assert!(res2.lock.get("m5").is_none());
    let strict = ResolveOptions {
        locked: true,
        ..Default::default()
    };
    match only_error(client.resolve(fewer, Some(&res.lock), &strict, &no_progress)) {
        Error::LockWouldChange { module, .. } => assert_eq!(module, "m5"),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn two_processes_sharing_a_cache_both_succeed() {
    // Two clients (as two builds would) fill one cache at once.
    let registry = Registry::start();
    let env = Env::new();
    let reference = registry.reference("wasm/shared:v1");
    let wasm = wasm_module(&"x".repeat(200_000));
    env.client()
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    env.client()
                        .resolve(
                            &[request("s", &reference)],
                            None,
                            &ResolveOptions::default(),
                            &no_progress,
                        )
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(read(&h.join().unwrap().modules[0].path), wasm);
        }
    });
}

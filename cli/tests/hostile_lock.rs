//! What a `bundle.lock` from elsewhere (a registry, a bundle folder) and a deploy root others can
//! write must not get out of the CLI (issue 19): no lock value becomes configuration — each field
//! a template renders passes the manifest's rules or is refused (`fleet::unsafe-lock`, naming the
//! field) before anything is written; the renderer itself refuses control characters, in
//! comments too; a deploy root that others may write is refused with the fix; a dry run writes
//! nothing under the root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mod_wasm::bundle::lock::BundleLock;
use mod_wasm::deploy::apachectl::Apachectl;
use mod_wasm::deploy::http::BaseUrl;
use mod_wasm::deploy::{Plan, deploy, relocate};
use mod_wasm::fleet::lock_check::{UnsafeLock, check};
use mod_wasm::fleet::render::context;
use mod_wasm::fleet::stage::{self, Fetched};
use mod_wasm::manifest::{HostDir, MapDir};
use mod_wasm::render::Templates;

/// A newline and a piped `ErrorLog`: what a value must never turn into.
const INJECTED: &str = "\nErrorLog \"|/bin/sh -c 'touch /tmp/pwned'\"\n#";

/// The bundle of the manifest that uses every node (`tests/golden/full.kdl`), built in `dir`.
fn full_bundle(dir: &Path) -> (PathBuf, PathBuf, BundleLock) {
    let root = dir.canonicalize().unwrap();
    let so = common::build_full_manifest(&root);
    let bundle = root.join("bundle");
    let lock = serde_json::from_slice(&std::fs::read(bundle.join("bundle.lock")).unwrap()).unwrap();
    (bundle, so, lock)
}

type Poison = fn(&mut BundleLock, String);

/// A change to a lock.
type Change = fn(&mut BundleLock);

/// Each field of the lock a template renders, how to set it, and the name a refusal uses.
fn rendered_fields() -> Vec<(Poison, &'static str)> {
    vec![
        (|l, v| l.app = v, "app"),
        (|l, v| l.engine.opt_level = v, "engine.opt_level"),
        (|l, v| l.engine.cache_dir = Some(v), "engine.cache_dir"),
        (
            |l, v| l.engine.module_limits[0] = v,
            "engine.module_limits[0]",
        ),
        (|l, v| l.modules[0].name = v, "modules[0].name"),
        (|l, v| l.routes[0].path = v, "routes[0].path"),
        (|l, v| l.routes[0].module = v, "routes[0].module"),
        (|l, v| l.status = Some(v), "status"),
        (
            |l, v| l.routes[1].settings.args[1] = v,
            "routes[1].settings.args[1]",
        ),
        (
            |l, v| l.routes[1].settings.env[0].0 = v,
            "routes[1].settings.env[0]",
        ),
        (
            |l, v| l.routes[1].settings.env[0].1 = v,
            "routes[1].settings.env[0]",
        ),
        (
            |l, v| l.routes[0].settings.dirs[0].host = v,
            "routes[0].settings.dirs[0].host",
        ),
        (
            |l, v| l.routes[1].settings.map_dirs[0].guest = v,
            "routes[1].settings.map_dirs[0].guest",
        ),
        (
            |l, v| l.routes[1].settings.map_dirs[1].host = v,
            "routes[1].settings.map_dirs[1].host",
        ),
        (
            |l, v| l.routes[1].settings.entry_point = Some(v),
            "routes[1].settings.entry_point",
        ),
        (
            |l, v| l.routes[1].settings.timeout = Some(v),
            "routes[1].settings.timeout",
        ),
        (
            |l, v| l.routes[1].settings.memory_limit = Some(v),
            "routes[1].settings.memory_limit",
        ),
        (
            |l, v| l.routes[1].settings.output_limit = Some(v),
            "routes[1].settings.output_limit",
        ),
        (
            |l, v| l.routes[2].settings.allow_outbound[0] = v,
            "routes[2].settings.allow_outbound[0]",
        ),
    ]
}

/// The value a field had, with the injection appended (so only the injection is wrong).
fn poisoned(lock: &BundleLock, poison: Poison, field: &str) -> BundleLock {
    let mut probe = lock.clone();
    poison(&mut probe, "VALUE".into());
    let original = find_original(lock, &probe, field);
    let mut hostile = lock.clone();
    poison(&mut hostile, format!("{original}{INJECTED}"));
    hostile
}

/// The field's current value in `lock`: the JSON text that differs between `lock` and `probe`.
fn find_original(lock: &BundleLock, probe: &BundleLock, field: &str) -> String {
    fn walk(a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
        match (a, b) {
            (serde_json::Value::String(x), serde_json::Value::String(_)) if a != b => {
                Some(x.clone())
            }
            (serde_json::Value::Null, serde_json::Value::String(_)) => Some(String::new()),
            (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
                x.iter().zip(y).find_map(|(a, b)| walk(a, b))
            }
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                x.iter().find_map(|(k, a)| walk(a, y.get(k)?))
            }
            _ => None,
        }
    }
    let (a, b) = (
        serde_json::to_value(lock).unwrap(),
        serde_json::to_value(probe).unwrap(),
    );
    walk(&a, &b)
        .or_else(|| {
            // A field absent before (status of a bundle without one): a URL path will do.
            (field == "status").then(|| "/s".to_string())
        })
        .unwrap_or_else(|| panic!("{field} did not change"))
}

#[test]
fn every_rendered_field_of_the_lock_refuses_a_newline_and_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, lock) = full_bundle(dir.path());
    assert_eq!(check(&lock), Ok(()), "a lock from `mod-wasm build` passes");
    for (poison, field) in rendered_fields() {
        let hostile = poisoned(&lock, poison, field);
        let err = check(&hostile).expect_err(field);
        assert_eq!(err.field, field, "{err}");
        assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    }
}

#[test]
fn lock_values_pass_the_manifests_rules_and_the_directive_validators() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, lock) = full_bundle(dir.path());
    let cases: Vec<(Change, &str, &str)> = vec![
        (|l| l.app = "../x".into(), "app", "not a plain name"),
        (|l| l.app = "/elsewhere".into(), "app", "not a plain name"),
        (|l| l.app = String::new(), "app", "empty"),
        (
            |l| l.routes[1].settings.args[0] = "${APACHE_RUN_USER}".into(),
            "routes[1].settings.args[0]",
            "expanded by Apache",
        ),
        (
            |l| l.routes[0].path = "/a\" \"/b".into(),
            "routes[0].path",
            "spaces or quotes",
        ),
        (
            |l| l.routes[0].path = "hello".into(),
            "routes[0].path",
            "does not start with `/`",
        ),
        (
            |l| l.routes[1].path = l.routes[0].path.clone(),
            "routes[1].path",
            "listed twice",
        ),
        (
            |l| l.routes[1].settings.entry_point = Some(String::new()),
            "routes[1].settings.entry_point",
            "empty",
        ),
        (
            |l| l.routes[1].settings.timeout = Some("0".into()),
            "routes[1].settings.timeout",
            "`WasmTimeout` refuses it",
        ),
        (
            |l| l.routes[1].settings.memory_limit = Some("12Q".into()),
            "routes[1].settings.memory_limit",
            "`WasmMemoryLimit` refuses it",
        ),
        (
            |l| l.routes[1].settings.env[0].0 = "A B".into(),
            "routes[1].settings.env[0]",
            "`WasmEnv` refuses it",
        ),
        (
            |l| {
                l.routes[0].settings.dirs = vec![HostDir {
                    host: "etc".into(),
                    readonly: false,
                }]
            },
            "routes[0].settings.dirs[0].host",
            "not an absolute path",
        ),
        (
            |l| {
                l.routes[1].settings.map_dirs = vec![MapDir {
                    guest: "/g".into(),
                    host: "relative".into(),
                    readonly: true,
                }]
            },
            "routes[1].settings.map_dirs[0].host",
            "not an absolute path",
        ),
        (
            |l| l.routes[2].settings.allow_outbound[0] = "http://x/".into(),
            "routes[2].settings.allow_outbound[0]",
            "`WasmAllowOutbound` refuses it",
        ),
        (
            |l| l.engine.opt_level = "fast".into(),
            "engine.opt_level",
            "`WasmEngineOptLevel` refuses it",
        ),
        (
            |l| l.engine.pooling_max_instances = 100_001,
            "engine.pooling_max_instances",
            "`WasmPoolingMaxInstances` refuses it",
        ),
        (
            |l| l.engine.module_limits = vec!["speed=1".into()],
            "engine.module_limits[0]",
            "`WasmModuleLimits` refuses it",
        ),
        (
            |l| l.engine.cache_dir = Some("cache".into()),
            "engine.cache_dir",
            "not an absolute path",
        ),
        (
            |l| l.modules[0].name = "../evil".into(),
            "modules[0].name",
            "not a module name",
        ),
        (
            |l| l.routes[0].module = "nope".into(),
            "routes[0].module",
            "not in the lock",
        ),
        (
            |l| l.status = Some(l.routes[0].path.clone()),
            "status",
            "would hide route",
        ),
    ];
    for (change, field, words) in cases {
        let mut hostile = lock.clone();
        change(&mut hostile);
        let err: UnsafeLock = check(&hostile).expect_err(field);
        assert_eq!(err.field, field, "{err}");
        assert!(err.why.contains(words), "{field}: {err}");
    }
}

#[test]
fn the_renderer_refuses_control_characters_whatever_checked_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, so, lock) = full_bundle(dir.path());
    let templates = Templates::load(None).unwrap();
    let good = context(&lock, &bundle, &so, "app.kdl", "bundle-x".into());
    let text = templates.wasm_conf(&good).unwrap();
    assert!(text.contains(relocate::LOOPBACK_ONLY), "{text}");
    assert!(!text.contains("IfModule authz_host_module"), "{text}");
    // Values no check has seen: in a comment (`# app`, `# route …`), quoted, or bare.
    let mut cases: Vec<fn(&mut mod_wasm::render::WasmConfContext)> = vec![
        |c| c.app = format!("x{INJECTED}"),
        |c| c.routes[0].path = format!("/hello{INJECTED}"),
        |c| c.routes[0].module = format!("hello{INJECTED}"),
        |c| c.engine.opt_level = format!("speed{INJECTED}"),
        |c| c.engine.module_limits[0] = format!("functions=1{INJECTED}"),
        |c| c.routes[1].settings.env[0].1 = format!("hi{INJECTED}"),
        |c| c.manifest = "a\rb".into(),
        |c| c.status = Some("/s\0".into()),
    ];
    for (i, change) in cases.drain(..).enumerate() {
        let mut hostile = good.clone();
        change(&mut hostile);
        let err = templates
            .wasm_conf(&hostile)
            .expect_err(&format!("case {i}"));
        assert!(err.to_string().contains("control character"), "{i}: {err}");
    }
}

fn fetched(lock: BundleLock) -> Fetched {
    let reference =
        mod_wasm_oci::OciReference::parse("oci://127.0.0.1:5000/fleet/app:stable").unwrap();
    Fetched {
        reference,
        digest: mod_wasm_oci::Digest::of(b"m"),
        lock_bytes: serde_json::to_vec(&lock).unwrap(),
        lock,
        modules: vec![],
        verified: true,
    }
}

#[test]
fn a_hostile_pulled_lock_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, so, lock) = full_bundle(dir.path());
    let parent = dir.path().join("root/.fleet");
    for (poison, field) in rendered_fields() {
        let hostile = fetched(poisoned(&lock, poison, field));
        let Err(f) = stage::stage(&hostile, &parent, &so, None) else {
            panic!("{field}: staged");
        };
        assert_eq!(f.code, "fleet::unsafe-lock", "{field}: {}", f.message);
        assert!(f.message.contains(&format!("`{field}`")), "{}", f.message);
        assert!(
            !dir.path().join("root").exists(),
            "{field}: wrote under the root"
        );
    }
    // What `deploy --from` checks first, right after the pull: the same refusal.
    let mut hostile = lock.clone();
    hostile.routes[0].path = format!("/hello{INJECTED}");
    let layers = hostile
        .modules
        .iter()
        .map(|m| {
            let path = bundle.join("modules").join(format!("{}.wasm", m.name));
            let bytes = std::fs::read(&path).unwrap();
            (
                mod_wasm_oci::BundleLayer {
                    title: format!("{}.wasm", m.name),
                    digest: mod_wasm_oci::Digest::of(&bytes),
                    size: bytes.len() as u64,
                },
                path,
            )
        })
        .collect();
    let config = serde_json::to_vec(&hostile).unwrap();
    let pulled = mod_wasm_oci::PulledBundle {
        reference: fetched(lock.clone()).reference,
        manifest_digest: mod_wasm_oci::Digest::of(b"m"),
        config_digest: mod_wasm_oci::Digest::of(&config),
        config,
        layers,
    };
    let Err(f) = stage::check(&pulled) else {
        panic!("a hostile lock passed the pull's check");
    };
    assert_eq!(f.code, "fleet::unsafe-lock");
    assert!(f.message.contains("`routes[0].path`"), "{}", f.message);
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A plan whose apachectl must never run (`false` fails every command).
fn plan(root: PathBuf) -> Plan {
    Plan {
        root,
        apachectl: Apachectl::parse("false").unwrap(),
        url: BaseUrl::parse("http://127.0.0.1:1").unwrap(),
        keep: 3,
        dry_run: false,
        preflight: true,
        lock_wait: std::time::Duration::ZERO,
        health: vec![],
        templates: None,
        check_include: true,
    }
}

#[test]
fn a_local_bundle_with_a_hostile_lock_is_refused_before_the_root_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, _, mut lock) = full_bundle(dir.path());
    lock.app = format!("golden{INJECTED}");
    std::fs::write(
        bundle.join("bundle.lock"),
        serde_json::to_vec_pretty(&lock).unwrap(),
    )
    .unwrap();
    let root = dir.path().join("deploy-root");
    let f = deploy(&plan(root.clone()), &bundle, "test").unwrap_err();
    assert_eq!(f.code, "fleet::unsafe-lock", "{}", f.message);
    assert!(f.message.contains("`app`"), "{}", f.message);
    assert!(!root.exists());
}

#[test]
fn a_deploy_root_others_may_write_is_refused_with_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, _, _) = full_bundle(dir.path());
    // Under a folder anyone may write (not sticky): refused before the root is made.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let root = shared.join("root");
    let f = deploy(&plan(root.clone()), &bundle, "test").unwrap_err();
    assert_eq!(f.code, "deploy::unsafe-root", "{}", f.message);
    assert!(
        f.message
            .contains(&format!("chmod go-w {}", shared.display())),
        "{}",
        f.message
    );
    assert!(!root.exists());
    // A group-writable root, and a group-writable releases/ in a root that is fine.
    chmod(&shared, 0o755);
    std::fs::create_dir_all(root.join("releases")).unwrap();
    for (path, mode) in [(root.clone(), 0o775), (root.join("releases"), 0o775)] {
        chmod(&root, 0o755);
        chmod(&root.join("releases"), 0o755);
        chmod(&path, mode);
        let f = deploy(&plan(root.clone()), &bundle, "test").unwrap_err();
        assert_eq!(f.code, "deploy::unsafe-root", "{}", f.message);
        assert!(
            f.message
                .contains(&format!("chmod go-w {}", path.display())),
            "{}",
            f.message
        );
        assert_eq!(
            std::fs::read_dir(root.join("releases")).unwrap().count(),
            0,
            "nothing written"
        );
        assert!(!root.join("deploy.lock").exists());
    }
}

/// An `apachectl` that says the running configuration includes `root`'s current release and
/// accepts every configtest, logging each call.
fn fake_apachectl(dir: &Path, root: &Path) -> PathBuf {
    let conf = dir.join("httpd.conf");
    std::fs::write(
        &conf,
        format!("IncludeOptional {}/current/wasm.conf\n", root.display()),
    )
    .unwrap();
    let script = dir.join("apachectl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> {log}\ncase \"$*\" in\n  *DUMP_INCLUDES*) echo 'Included configuration files:'; echo '  (*) {conf}';;\nesac\nexit 0\n",
            log = dir.join("calls.log").display(),
            conf = conf.display()
        ),
    )
    .unwrap();
    chmod(&script, 0o755);
    script
}

#[test]
fn a_dry_run_writes_nothing_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, so, _) = full_bundle(dir.path());
    let root = dir.path().join("deploy-root");
    let apachectl = fake_apachectl(dir.path(), &root);
    let run = |extra: &[&str]| {
        Command::new(common::bin())
            .env("NO_COLOR", "1")
            .env(common::CACHE_ENV, dir.path().join("compiled"))
            .args(["--json", "deploy", "--dry-run", "--root"])
            .arg(&root)
            .arg("--apachectl")
            .arg(&apachectl)
            .arg("--mod-wasm-so")
            .arg(&so)
            .args(extra)
            .output()
            .unwrap()
    };
    for extra in [
        vec!["--bundle", bundle.to_str().unwrap()],
        vec![dir.path().join("app.kdl").to_str().unwrap()],
    ] {
        let out = run(&extra.iter().map(|s| s.as_ref()).collect::<Vec<&str>>());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON report");
        assert_eq!(report["outcome"], "dry-run", "{stdout}");
        assert!(
            !root.exists(),
            "{extra:?}: the dry run wrote under the root"
        );
    }
    // The candidate was configtested (somewhere else).
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(calls.matches("-t -C Include").count(), 2, "{calls}");
    assert!(!calls.contains(&root.display().to_string()), "{calls}");
}

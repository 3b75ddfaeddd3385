//! Golden tests of the generated Apache configuration: the bundle's `wasm.conf` (from a real
//! `mod-wasm build` of a manifest using every node, temporary paths normalised) and the
//! standalone `httpd.conf` of `mod-wasm up`. `BLESS=1 cargo test` rewrites the golden files.

mod common;

use std::path::Path;
use std::process::Command;

use mod_wasm::render::{HttpdContext, Templates};

fn golden_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

fn assert_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file (BLESS=1 cargo test rewrites it)"
    );
}

#[test]
fn wasm_conf_of_a_manifest_with_every_directive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    common::build_full_manifest(&root);
    let conf = std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap();
    // The release id is the digest of bundle.lock, which names the temporary folder.
    let lock = std::fs::read(root.join("bundle/bundle.lock")).unwrap();
    let release = mod_wasm::bundle::release_id(&lock);
    assert!(
        conf.contains(&format!("\nWasmRelease {release}\n")),
        "{conf}"
    );
    let normalised = conf
        .replace(&release, "bundle-<12 hex of the lock's SHA-256>")
        .replace(root.to_str().unwrap(), "<TMP>");
    assert_golden("full.wasm.conf", &normalised);
}

fn httpd_context(user: bool) -> HttpdContext {
    HttpdContext {
        app: "golden".into(),
        version: "mod-wasm 0.1.0".into(),
        server_root: "/tmp/mod-wasm-up-XXXX".into(),
        server_name: "127.0.0.1".into(),
        listen: "127.0.0.1:9999".into(),
        modules_dir: "/usr/lib/apache2/modules".into(),
        mime_types: "/etc/mime.types".into(),
        user: user.then(|| "nobody".into()),
        group: user.then(|| "nogroup".into()),
        wasm_conf: "/srv/app/bundle/wasm.conf".into(),
    }
}

#[test]
fn standalone_httpd_conf_as_root_and_not() {
    let templates = Templates::load(None).unwrap();
    assert_golden(
        "root.httpd.conf",
        &templates.httpd_conf(&httpd_context(true)).unwrap(),
    );
    assert_golden(
        "user.httpd.conf",
        &templates.httpd_conf(&httpd_context(false)).unwrap(),
    );
}

#[test]
fn templates_dir_overrides_the_builtin_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wasm.conf.j2"),
        "# custom {{ app }}\n{% for r in routes %}Use {{ r.path | q }}\n{% endfor %}",
    )
    .unwrap();
    let root = dir.path();
    common::write_fixtures(root);
    std::fs::write(
        root.join("app.kdl"),
        "app \"custom\"\nmodule \"ok\" source=\"ok.wasm\"\nroute \"/a b\" module=\"ok\"\nroute \"/c\" module=\"ok\"\n",
    )
    .unwrap();
    let so = common::fake_mod_wasm_so(root);
    let out = Command::new(common::bin())
        .env(common::CACHE_ENV, root.join("compiled"))
        .args(["build", "--quiet", "--templates"])
        .arg(root)
        .arg("--mod-wasm-so")
        .arg(&so)
        .arg(root.join("app.kdl"))
        .output()
        .unwrap();
    // "/a b" is refused (space in a route path): the override is exercised by the next build.
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(
        root.join("app.kdl"),
        "app \"custom\"\nmodule \"ok\" source=\"ok.wasm\"\nroute \"/a\" module=\"ok\"\nroute \"/c\" module=\"ok\"\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .env(common::CACHE_ENV, root.join("compiled"))
        .args(["build", "--quiet", "--templates"])
        .arg(root)
        .arg("--mod-wasm-so")
        .arg(&so)
        .arg(root.join("app.kdl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap();
    assert_eq!(conf, "# custom custom\nUse \"/a\"\nUse \"/c\"\n");
}

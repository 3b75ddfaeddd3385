//! WebAssembly components through the real binary: `check` and `build` accept one as a module
//! source, apply the compile limits to it, precompile it as a component with a sidecar that
//! verifies, record its kind in `bundle.lock`, and write the route's `allow-outbound`
//! destinations as `WasmAllowOutbound` lines; a component pushed to a real `docker-registry` builds
//! from its `oci://` reference the same way.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mod_wasm::bundle::lock::BundleLock;
use wasm_runtime::engine::{build_engine, compatibility_hash};
use wasm_runtime::precompiled::Sidecar;
use wasmtime::{Engine, Precompiled};

fn run_json(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> (Output, serde_json::Value) {
    let mut command = Command::new(common::bin());
    command
        .env(common::CACHE_ENV, dir.join("compiled"))
        .env("NO_COLOR", "1")
        .args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

fn check(dir: &Path) -> (Output, serde_json::Value) {
    let manifest = dir.join("app.kdl");
    run_json(dir, &["check", "--json", manifest.to_str().unwrap()], &[])
}

fn build(dir: &Path, envs: &[(&str, &Path)]) -> (Output, serde_json::Value) {
    let so = common::fake_mod_wasm_so(dir);
    let manifest = dir.join("app.kdl");
    run_json(
        dir,
        &[
            "build",
            "--json",
            "--mod-wasm-so",
            so.to_str().unwrap(),
            manifest.to_str().unwrap(),
        ],
        envs,
    )
}

fn read_lock(bundle: &Path) -> (BundleLock, serde_json::Value) {
    let text = std::fs::read_to_string(bundle.join("bundle.lock")).unwrap();
    (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

/// The engine `bundle.lock` says its modules were compiled for, built by the runtime.
fn engine_of(lock: &BundleLock) -> Engine {
    let settings = mod_wasm::fleet::render::engine_settings(lock).unwrap();
    let engine = build_engine(&settings).unwrap().engine;
    assert_eq!(compatibility_hash(&engine), lock.engine.compatibility);
    engine
}

/// Asserts `modules/NAME.cwasm` is precompiled code of `kind` that its sidecar vouches for, for
/// the `.wasm` beside it; returns the image.
fn assert_precompiled(bundle: &Path, name: &str, engine: &Engine, kind: Precompiled) -> Vec<u8> {
    let cwasm = bundle.join(format!("modules/{name}.cwasm"));
    let image = std::fs::read(&cwasm).unwrap();
    assert_eq!(Engine::detect_precompiled(&image), Some(kind), "{name}");
    let meta = Sidecar::read(&cwasm).unwrap();
    meta.verify(engine, &image)
        .unwrap_or_else(|e| panic!("{name}: the sidecar does not verify: {e}"));
    let wasm = std::fs::read(bundle.join(format!("modules/{name}.wasm"))).unwrap();
    assert_eq!(meta.wasm_sha256, wasm_runtime::digest::sha256_hex(&wasm));
    image
}

const MIXED: &str = r#"app "mixed"
module "api" source="api.wasm"
module "hello" source="hello.wasm"
route "/api" module="api" {
    allow-outbound "api.example.com"
    allow-outbound "127.0.0.1:8080"
    timeout "5s"
}
route "/hello" module="hello"
"#;

#[test]
fn a_component_is_checked_and_built_into_a_precompiled_component() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("api.wasm"), common::component_wasm()).unwrap();
    std::fs::write(root.join("hello.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(root.join("app.kdl"), MIXED).unwrap();

    let (out, json) = check(root);
    assert!(out.status.success(), "{json}");
    assert_eq!(json["problems"].as_array().unwrap().len(), 0, "{json}");

    let (out, json) = build(root, &[]);
    assert!(
        out.status.success(),
        "{json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json["compiled"].as_u64(), Some(2), "{json}");
    let bundle = root.join("bundle");
    let (lock, raw) = read_lock(&bundle);
    // Where it came from (`kind`) and what it is (`wasm_kind`).
    assert_eq!(raw["modules"][0]["name"], "api");
    assert_eq!(raw["modules"][0]["kind"], "file");
    assert_eq!(raw["modules"][0]["wasm_kind"], "component");
    assert_eq!(raw["modules"][1]["wasm_kind"], "module");
    assert_eq!(
        raw["routes"][0]["settings"]["allow_outbound"],
        serde_json::json!(["api.example.com", "127.0.0.1:8080"])
    );
    assert_eq!(
        raw["routes"][1]["settings"]["allow_outbound"],
        serde_json::json!([])
    );

    let engine = engine_of(&lock);
    let image = assert_precompiled(&bundle, "api", &engine, Precompiled::Component);
    assert_precompiled(&bundle, "hello", &engine, Precompiled::Module);
    // The runtime's engine loads the component as it is, with its export. (Not instantiated here:
    // how the server instantiates, sync or async, is the runtime's business.)
    // SAFETY: the image was just compiled by this engine's configuration (its sidecar verified).
    let component =
        unsafe { wasmtime::component::Component::deserialize(&engine, &image) }.unwrap();
    let exports: Vec<String> = component
        .component_type()
        .exports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(exports, ["answer"]);

    // The destinations, one WasmAllowOutbound line each, in the route's <Location> only.
    let conf = std::fs::read_to_string(bundle.join("wasm.conf")).unwrap();
    let api = &conf[conf.find("<Location \"/api\">").unwrap()..];
    let api = &api[..api.find("</Location>").unwrap()];
    assert!(
        api.contains(
            "    WasmAllowOutbound \"api.example.com\"\n    WasmAllowOutbound \"127.0.0.1:8080\"\n"
        ),
        "{conf}"
    );
    assert_eq!(conf.matches("WasmAllowOutbound").count(), 2, "{conf}");

    // Compiled components are reused from the CLI's cache like core modules.
    let (out, json) = build(root, &[]);
    assert!(out.status.success());
    assert_eq!(
        (json["compiled"].as_u64(), json["reused"].as_u64()),
        (Some(0), Some(2)),
        "{json}"
    );
    let (again, _) = read_lock(&bundle);
    assert_eq!(again.modules[0].cwasm_sha256, lock.modules[0].cwasm_sha256);
}

#[test]
fn allow_outbound_on_a_core_module_is_a_warning_at_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("hello.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"t\"\nmodule \"hello\" source=\"hello.wasm\"\nroute \"/hello\" module=\"hello\" {\n    allow-outbound \"api.example.com\"\n}\n",
    )
    .unwrap();
    let (out, json) = check(root);
    assert!(out.status.success(), "a warning only: {json}");
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json}");
    let p = &problems[0];
    assert_eq!(p["code"], "manifest::outbound-unused");
    assert_eq!(p["level"], "warning");
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(4), Some(5))
    );
    assert!(
        p["message"].as_str().unwrap().contains("core module"),
        "{p}"
    );
}

#[test]
fn the_compile_limits_count_the_core_modules_inside_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let three_functions = wat::parse_str(
        r#"(component
            (core module $a (func) (func))
            (core module $b (func (export "f"))))"#,
    )
    .unwrap();
    std::fs::write(root.join("api.wasm"), three_functions).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        "app \"t\"\nengine {\n    module-limits functions=2\n}\nmodule \"api\" source=\"api.wasm\"\nroute \"/api\" module=\"api\"\n",
    )
    .unwrap();
    let (out, json) = check(root);
    assert_eq!(out.status.code(), Some(1), "{json}");
    let p = &json["problems"][0];
    assert_eq!(p["code"], "manifest::module-limit", "{json}");
    assert!(p["message"].as_str().unwrap().contains("functions"), "{p}");
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(5), Some(21))
    );
    // Within the limit, the same component builds.
    std::fs::write(
        root.join("app.kdl"),
        "app \"t\"\nengine {\n    module-limits functions=3\n}\nmodule \"api\" source=\"api.wasm\"\nroute \"/api\" module=\"api\"\n",
    )
    .unwrap();
    let (out, json) = build(root, &[]);
    assert!(out.status.success(), "{json}");
}

#[test]
fn a_component_in_an_old_encoding_or_that_does_not_validate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("app.kdl"),
        "app \"t\"\nmodule \"api\" source=\"api.wasm\"\nroute \"/api\" module=\"api\"\n",
    )
    .unwrap();
    // A pre-release component encoding (version 0x0a): not something this runtime runs.
    std::fs::write(root.join("api.wasm"), b"\0asm\x0a\0\x01\0").unwrap();
    let (out, json) = check(root);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["problems"][0]["code"], "manifest::not-wasm", "{json}");
    assert!(
        json["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pre-release"),
        "{json}"
    );
    // The component preamble, then garbage: `build` reports it as a module that does not compile.
    std::fs::write(root.join("api.wasm"), b"\0asm\x0d\0\x01\0\x07\xff\xff").unwrap();
    let (out, json) = build(root, &[]);
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["problems"][0]["code"], "manifest::compile", "{json}");
    assert!(!root.join("bundle").exists());
}

/// A real `docker-registry` on a free loopback port with a temporary storage folder; killed
/// when dropped.
struct Registry {
    addr: String,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let mut registry = Registry {
            addr,
            _dir: dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !registry.answers() {
            if let Some(status) = registry.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}) before serving");
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    fn answers(&self) -> bool {
        use std::io::Write;
        let Ok(mut s) = std::net::TcpStream::connect(&self.addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let mut head = [0u8; 12];
        s.write_all(request.as_bytes()).is_ok()
            && s.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.1 200")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_component_pushed_to_a_registry_builds_from_its_oci_reference() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let component = common::component_wasm();
    std::fs::write(root.join("api.wasm"), &component).unwrap();
    // A private OCI cache and no credentials.
    let xdg: PathBuf = root.join("xdg-cache");
    let docker: PathBuf = root.join("docker");
    let envs = [
        ("XDG_CACHE_HOME", xdg.as_path()),
        ("DOCKER_CONFIG", docker.as_path()),
    ];
    let reference = format!("oci://{}/wasm/api:1", registry.addr);

    let wasm = root.join("api.wasm");
    let (out, pushed) = run_json(
        root,
        &["push", "--json", wasm.to_str().unwrap(), &reference],
        &envs,
    );
    assert!(
        out.status.success(),
        "{pushed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pushed["layout"], "cncf");

    std::fs::write(
        root.join("app.kdl"),
        format!(
            "app \"remote\"\nmodule \"api\" source=\"{reference}\"\nroute \"/api\" module=\"api\" {{\n    allow-outbound \"[::1]:8443\"\n}}\n"
        ),
    )
    .unwrap();
    let (out, json) = build(root, &envs);
    assert!(
        out.status.success(),
        "{json}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = root.join("bundle");
    let (lock, raw) = read_lock(&bundle);
    assert_eq!(raw["modules"][0]["kind"], "oci");
    assert_eq!(raw["modules"][0]["wasm_kind"], "component");
    assert_eq!(
        raw["modules"][0]["resolved"],
        format!(
            "oci://{}/wasm/api@{}",
            registry.addr,
            pushed["digest"].as_str().unwrap()
        )
    );
    assert_eq!(
        std::fs::read(bundle.join("modules/api.wasm")).unwrap(),
        component,
        "the pulled layer is the pushed component, byte for byte"
    );
    assert_precompiled(&bundle, "api", &engine_of(&lock), Precompiled::Component);
    let conf = std::fs::read_to_string(bundle.join("wasm.conf")).unwrap();
    assert!(
        conf.contains("    WasmAllowOutbound \"[::1]:8443\"\n"),
        "{conf}"
    );
}

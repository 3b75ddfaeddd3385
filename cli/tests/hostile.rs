//! What a hostile manifest, module or bundle folder must not get out of the CLI (issue 15):
//! `--out` never replaces a folder the CLI did not make; module sources are regular files read
//! with a cap (no FIFO hang, no `/dev/zero` read); compile limits refuse a compile bomb before
//! compiling; compiled code is reused only from the CLI's own cache, never from the output
//! folder; bundle files have fixed modes whatever the umask; host folders are canonical.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wasm_runtime::digest::sha256_hex;
use wasm_runtime::precompiled::Sidecar;

const ONE_MODULE: &str = "app \"x\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/a\" module=\"a\"\n";

/// A project folder: `a.wasm`, `app.kdl` (`manifest`), a fake `mod_wasm.so`.
fn project(manifest: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.wasm"), common::hello_wasm()).unwrap();
    std::fs::write(root.join("app.kdl"), manifest).unwrap();
    common::fake_mod_wasm_so(&root);
    (dir, root)
}

fn mod_wasm(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(common::bin())
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env(common::CACHE_ENV, cache)
        .args(args)
        .output()
        .unwrap()
}

fn build(cwd: &Path, cache: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--json", "--mod-wasm-so", "mod_wasm.so", "app.kdl"];
    args.extend_from_slice(extra);
    mod_wasm(cwd, cache, &args)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn out_refuses_the_project_its_parents_and_the_current_directory() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    let before = listing(&root);
    for out in [".", "..", "../..", "./sub/..", &root.display().to_string()] {
        let res = build(&root, &cache, &["--out", out]);
        assert_eq!(res.status.code(), Some(1), "--out {out}");
        assert_eq!(
            json(&res)["error"]["code"],
            "build::out-holds-project",
            "--out {out}"
        );
    }
    // From elsewhere: the manifest's own folder is refused too (not the current directory).
    let res = mod_wasm(
        dir.path(),
        &cache,
        &[
            "build",
            "--json",
            "--mod-wasm-so",
            "project/mod_wasm.so",
            "project/app.kdl",
            "--out",
            "project",
        ],
    );
    assert_eq!(res.status.code(), Some(1));
    let error = &json(&res)["error"];
    assert_eq!(error["code"], "build::out-holds-project");
    assert!(
        error["message"].as_str().unwrap().contains("app.kdl"),
        "{error}"
    );
    assert_eq!(listing(&root), before, "nothing was deleted or added");
    assert!(!cache.exists(), "refused before compiling anything");
}

#[test]
fn up_refuses_the_same_folders_before_building() {
    let (dir, root) = project(ONE_MODULE);
    let before = listing(&root);
    let res = mod_wasm(
        &root,
        &dir.path().join("cache"),
        &[
            "up",
            "--json",
            "--mod-wasm-so",
            "mod_wasm.so",
            "app.kdl",
            "--out",
            ".",
        ],
    );
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(json(&res)["error"]["code"], "build::out-holds-project");
    assert_eq!(listing(&root), before);
}

#[test]
fn a_manifest_that_is_a_fifo_or_a_device_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("app.kdl");
    mkfifo(&fifo);
    for manifest in [fifo.as_path(), Path::new("/dev/zero")] {
        let started = Instant::now();
        let res = mod_wasm(
            dir.path(),
            &dir.path().join("cache"),
            &["check", "--json", manifest.to_str().unwrap()],
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(res.status.code(), Some(1));
        let error = &json(&res)["error"];
        assert_eq!(error["code"], "manifest::read");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("not a regular file"),
            "{error}"
        );
    }
}

#[test]
fn out_refuses_a_non_empty_folder_that_is_not_a_bundle() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("docs")).unwrap();
    std::fs::write(work.join("docs/thesis.txt"), "years of work").unwrap();
    let res = build(&root, &cache, &["--out", work.to_str().unwrap()]);
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(json(&res)["error"]["code"], "build::out-not-a-bundle");
    assert_eq!(
        std::fs::read_to_string(work.join("docs/thesis.txt")).unwrap(),
        "years of work"
    );
    // Text form: a located miette diagnostic with its code and hint.
    let res = mod_wasm(
        &root,
        &cache,
        &[
            "build",
            "--mod-wasm-so",
            "mod_wasm.so",
            "app.kdl",
            "--out",
            work.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&res.stderr);
    assert!(
        text.contains("build::out-not-a-bundle") && text.contains("--out DIR"),
        "{text}"
    );

    // An empty folder and a previous bundle are fine; a plain file is not.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let res = build(&root, &cache, &["--out", empty.to_str().unwrap()]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let res = build(&root, &cache, &["--out", empty.to_str().unwrap()]);
    assert!(res.status.success(), "a bundle is rebuilt in place");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let res = build(&root, &cache, &["--out", file.to_str().unwrap()]);
    assert_eq!(json(&res)["error"]["code"], "build::out-not-a-folder");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn special_files_as_sources_are_refused_at_the_source_without_hanging() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    mkfifo(&root.join("fifo.wasm"));
    std::fs::create_dir(root.join("folder.wasm")).unwrap();
    for (source, kind) in [
        ("/dev/zero", "a character device"),
        ("fifo.wasm", "a FIFO"),
        ("folder.wasm", "a directory"),
    ] {
        std::fs::write(
            root.join("app.kdl"),
            format!("app \"x\"\nmodule \"a\" source=\"{source}\"\nroute \"/a\" module=\"a\"\n"),
        )
        .unwrap();
        let started = Instant::now();
        let res = mod_wasm(&root, &cache, &["check", "--json", "app.kdl"]);
        assert!(started.elapsed() < Duration::from_secs(10), "{source}");
        assert_eq!(res.status.code(), Some(1), "{source}");
        let problem = &json(&res)["problems"][0];
        assert_eq!(problem["code"], "manifest::not-a-file", "{source}");
        assert!(
            problem["message"].as_str().unwrap().contains(kind),
            "{problem}"
        );
        assert_eq!(
            (problem["line"].as_u64(), problem["column"].as_u64()),
            (Some(2), Some(19)),
            "{source}: on the source= value"
        );
    }
}

/// A core module of `n` empty functions, written byte by byte.
fn functions_module(n: u32) -> Vec<u8> {
    fn leb(mut v: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut wasm);
    let mut funcs = Vec::new();
    leb(n, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, n as usize));
    section(3, &funcs, &mut wasm);
    let mut code = Vec::new();
    leb(n, &mut code);
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    section(10, &code, &mut wasm);
    wasm
}

#[test]
fn a_compile_bomb_is_refused_before_compiling_with_the_limit_named() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    let bomb = functions_module(200_000);
    wasmtime::Module::validate(&wasmtime::Engine::default(), &functions_module(3))
        .expect("the writer makes valid Wasm");
    std::fs::write(root.join("a.wasm"), &bomb).unwrap();
    let started = Instant::now();
    let res = build(&root, &cache, &[]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(res.status.code(), Some(1));
    let problem = &json(&res)["problems"][0];
    assert_eq!(problem["code"], "manifest::module-limit");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("`a`") && message.contains("functions") && message.contains("200000"),
        "{message}"
    );
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(2), Some(19))
    );
    assert!(!root.join("bundle").exists());

    // The manifest can raise the limit (and lower others): the same words as the server's.
    std::fs::write(root.join("a.wasm"), functions_module(10)).unwrap();
    std::fs::write(
        root.join("app.kdl"),
        format!("engine {{\n    module-limits functions=9\n}}\n{ONE_MODULE}"),
    )
    .unwrap();
    let res = build(&root, &cache, &[]);
    let problem = &json(&res)["problems"][0];
    assert_eq!(problem["code"], "manifest::module-limit", "{problem}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 9")
    );
    std::fs::write(
        root.join("app.kdl"),
        format!("engine {{\n    module-limits functions=10 function-size=\"1k\"\n}}\n{ONE_MODULE}"),
    )
    .unwrap();
    let res = build(&root, &cache, &[]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let conf = std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap();
    assert!(
        conf.contains("\nWasmModuleLimits functions=10 function-size=1k\n"),
        "{conf}"
    );
}

#[test]
fn a_forged_cwasm_in_the_bundle_is_never_reused() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    let res = build(&root, &cache, &[]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let cwasm = root.join("bundle/modules/a.cwasm");
    let clean = std::fs::read(&cwasm).unwrap();

    // Forge: different native code, and a sidecar that vouches for it.
    let mut forged = clean.clone();
    let at = forged.len() / 2;
    forged[at..at + 16].fill(0xcc);
    std::fs::write(&cwasm, &forged).unwrap();
    let meta_path = root.join("bundle/modules/a.cwasm.meta");
    let mut meta = Sidecar::parse(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta.cwasm_sha256 = sha256_hex(&forged);
    std::fs::write(&meta_path, meta.to_text()).unwrap();

    // With the CLI's cache: its own code comes back.
    let res = build(&root, &cache, &[]);
    let report = json(&res);
    assert_eq!(
        (report["compiled"].as_u64(), report["reused"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(std::fs::read(&cwasm).unwrap(), clean);

    // Forge again; with an empty cache the module is compiled, the forged file never read.
    std::fs::write(&cwasm, &forged).unwrap();
    std::fs::write(&meta_path, meta.to_text()).unwrap();
    let res = build(&root, &dir.path().join("fresh-cache"), &[]);
    let report = json(&res);
    assert_eq!(
        (report["compiled"].as_u64(), report["reused"].as_u64()),
        (Some(1), Some(0))
    );
    let rebuilt = std::fs::read(&cwasm).unwrap();
    assert_ne!(rebuilt, forged);
    let meta = Sidecar::parse(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    assert_eq!(meta.cwasm_sha256, sha256_hex(&rebuilt));
}

#[test]
fn a_tampered_cache_entry_is_dropped_and_the_module_compiled() {
    let (dir, root) = project(ONE_MODULE);
    let cache = dir.path().join("cache");
    assert!(build(&root, &cache, &[]).status.success());
    let entries: Vec<PathBuf> = walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&entries[0], &bytes).unwrap();
    let report = json(&build(&root, &cache, &[]));
    assert_eq!(
        (report["compiled"].as_u64(), report["reused"].as_u64()),
        (Some(1), Some(0))
    );
    // The next build reuses the fresh entry.
    let report = json(&build(&root, &cache, &[]));
    assert_eq!(
        (report["compiled"].as_u64(), report["reused"].as_u64()),
        (Some(0), Some(1))
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn bundle_files_are_0644_and_folders_0755_whatever_the_umask() {
    for umask in [0o002, 0o077] {
        let (dir, root) = project(ONE_MODULE);
        std::fs::set_permissions(
            root.join("a.wasm"),
            std::os::unix::fs::PermissionsExt::from_mode(0o666),
        )
        .unwrap();
        let mut cmd = Command::new(common::bin());
        cmd.current_dir(&root)
            .env(common::CACHE_ENV, dir.path().join("cache"))
            .args([
                "build",
                "--quiet",
                "--mod-wasm-so",
                "mod_wasm.so",
                "app.kdl",
            ]);
        // SAFETY: umask is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let res = cmd.output().unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let bundle = root.join("bundle");
        let mut paths = walk(&bundle);
        paths.push(bundle.join("modules"));
        paths.push(bundle.clone());
        assert!(paths.len() >= 7, "{paths:?}");
        for path in paths {
            let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
            let want = if path.is_dir() { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "umask {umask:o}: {}", path.display());
        }
    }
}

#[test]
fn host_folders_are_written_as_real_paths_and_must_be_folders() {
    let manifest = "app \"x\"\nmodule \"a\" source=\"a.wasm\"\nroute \"/a\" module=\"a\" {\n    map-dir \"/d\" \"link\" readonly=#true\n    dir \"real\"\n}\n";
    let (dir, root) = project(manifest);
    let root = root.canonicalize().unwrap();
    std::fs::create_dir(root.join("real")).unwrap();
    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    let res = build(&root, &dir.path().join("cache"), &[]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let conf = std::fs::read_to_string(root.join("bundle/wasm.conf")).unwrap();
    let real = root.join("real").display().to_string();
    assert!(
        conf.contains(&format!("WasmMapDir \"/d\" \"{real}\" ro\n")),
        "{conf}"
    );
    assert!(conf.contains(&format!("WasmDir \"{real}\"\n")), "{conf}");
    assert!(!conf.contains("link"), "{conf}");

    std::fs::remove_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real"), "a file").unwrap();
    let res = build(&root, &dir.path().join("cache"), &[]);
    assert_eq!(res.status.code(), Some(1));
    let problems = json(&res)["problems"].clone();
    assert!(
        problems
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["code"] == "manifest::missing-dir"),
        "{problems}"
    );
    assert_eq!(problems.as_array().unwrap().len(), 2, "{problems}");
}

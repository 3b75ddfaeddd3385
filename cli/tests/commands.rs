//! The command-line surface: help with examples everywhere, completions, exit codes, `init`
//! producing a manifest that checks and builds, and every sample manifest passing `check`.

mod common;

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        vec![],
        vec!["init"],
        vec!["check"],
        vec!["build"],
        vec!["up"],
        vec!["pull"],
        vec!["push"],
        vec!["login"],
        vec!["completions"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Examples:"),
            "{cmd:?} --help has no examples:\n{text}"
        );
    }
}

#[test]
fn completions_name_the_commands() {
    let out = run(&["completions", "bash"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["mod-wasm", "build", "check", "init", "up", "--json"] {
        assert!(text.contains(word), "bash completions lack {word}");
    }
}

#[test]
fn usage_mistakes_and_missing_files_exit_1() {
    assert_eq!(run(&["build", "--no-such-flag"]).status.code(), Some(1));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(1));
    let out = run(&["check", "/nonexistent/app.kdl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read manifest"));
    let out = run(&["check", "--json", "/nonexistent/app.kdl"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"]["code"], "manifest::read");
}

#[test]
fn init_writes_a_starter_that_checks_and_builds() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("my app");
    let out = Command::new(common::bin())
        .arg("init")
        .arg(&app)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = app.join("app.kdl");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("app \"my-app\""), "{text}");
    // A second init refuses to overwrite.
    let again = Command::new(common::bin())
        .arg("init")
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));

    let check = Command::new(common::bin())
        .args(["check", "--json"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(check.status.success());
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(json["problems"].as_array().unwrap().len(), 0, "{json}");
    let so = common::fake_mod_wasm_so(dir.path());
    let build = Command::new(common::bin())
        .env(common::CACHE_ENV, dir.path().join("compiled"))
        .args(["build", "--quiet", "--mod-wasm-so"])
        .arg(&so)
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let conf = std::fs::read_to_string(app.join("bundle/wasm.conf")).unwrap();
    assert!(
        conf.contains("<Location \"/hello\">") && conf.contains("WasmEnableCGI On"),
        "{conf}"
    );
}

#[test]
fn every_sample_manifest_passes_check() {
    let samples = common::repo_root().join("samples");
    // The Python sample's interpreter is fetched (and sha256-verified) by a script, not by make.
    let fetch = samples.join("fetch-python.sh");
    if samples.join("python/app.kdl").is_file() {
        let out = Command::new(&fetch).output().unwrap();
        assert!(
            out.status.success(),
            "{} failed; samples/python/app.kdl needs its interpreter:\n{}",
            fetch.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Samples whose module comes from an optional script (not `make`, not CI): when the module
    // is absent, the manifest must still be valid in every other way.
    let built_by_script = [("js-http", "build/components/js-http.wasm")];
    let mut checked = 0;
    for entry in std::fs::read_dir(&samples).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("app.kdl");
        if !manifest.is_file() {
            continue;
        }
        let out = Command::new(common::bin())
            .args(["check", "--json"])
            .arg(&manifest)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = json["problems"].as_array().unwrap();
        let optional = built_by_script
            .iter()
            .find(|(name, _)| dir.ends_with(name))
            .filter(|(_, module)| !common::repo_root().join(module).is_file());
        if let Some((name, module)) = optional {
            assert!(
                !problems.is_empty()
                    && problems
                        .iter()
                        .all(|p| p["code"] == "manifest::missing-file"
                            && p["message"].as_str().unwrap_or("").contains(module)),
                "samples/{name}/app.kdl: with {module} not built, `check` must report only that file missing:\n{}",
                serde_json::to_string_pretty(problems).unwrap()
            );
            checked += 1;
            continue;
        }
        assert!(
            out.status.success() && problems.is_empty(),
            "{} does not pass `check` (the samples' modules come from `make`; run it first):\n{}",
            manifest.display(),
            serde_json::to_string_pretty(problems).unwrap()
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected at least the hello and echo samples, found {checked}"
    );
}

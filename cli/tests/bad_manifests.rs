//! The broken-manifest corpus: every file in `tests/bad_manifests/` must produce exactly the
//! errors listed for it in `tests/bad_manifests/expected.tsv` (code and line:column), and the
//! CLI must report them with exit code 1, as text and as JSON.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use mod_wasm::problem::line_col;

fn corpus_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_manifests"))
}

/// file -> set of "CODE LINE:COL".
fn expected() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.tsv")).unwrap();
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "bad expected.tsv line: {line:?}");
        map.entry(fields[0].to_string())
            .or_default()
            .insert(format!("{} {}", fields[1], fields[2]));
    }
    map
}

fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".kdl"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_is_large_enough_and_fully_specified() {
    let files = corpus_files();
    assert!(files.len() >= 25, "only {} broken manifests", files.len());
    let expected = expected();
    for file in &files {
        assert!(
            expected.contains_key(file),
            "{file} has no line in expected.tsv"
        );
    }
    for file in expected.keys() {
        assert!(
            files.contains(file),
            "expected.tsv names {file}, which does not exist"
        );
    }
}

#[test]
fn every_code_is_kebab_case_and_documented() {
    let docs = std::fs::read_to_string(common::repo_root().join("docs/manifest.md")).unwrap();
    let codes: BTreeSet<String> = expected()
        .into_values()
        .flatten()
        .map(|line| line.split_once(' ').unwrap().0.to_string())
        .collect();
    for code in &codes {
        let rest = code.strip_prefix("manifest::").unwrap_or(code);
        assert!(
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{code} is not area::kebab-case"
        );
        assert!(
            docs.contains(&format!("`{code}`")),
            "{code} is missing from the Diagnostics table of docs/manifest.md"
        );
    }
}

#[test]
fn every_broken_manifest_reports_exactly_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    common::write_fixtures(dir.path());
    let expected = expected();
    let mut failures = Vec::new();
    for file in corpus_files() {
        let path = dir.path().join(&file);
        std::fs::copy(corpus_dir().join(&file), &path).unwrap();
        let checked = mod_wasm::manifest::load(&path).unwrap();
        let actual: BTreeSet<String> = checked
            .problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| {
                let (line, col) = line_col(&checked.manifest.text, p.span.offset());
                format!("{} {line}:{col}", p.code)
            })
            .collect();
        let want = expected.get(&file).cloned().unwrap_or_default();
        if actual != want {
            failures.push(format!("{file}: expected {want:?}, got {actual:?}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn the_cli_reports_corpus_problems_as_json_and_text_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    common::write_fixtures(dir.path());
    let expected = expected();
    for file in [
        "13-route-to-unknown-module.kdl",
        "39-several-problems-at-once.kdl",
        "01-syntax-unclosed-string.kdl",
    ] {
        let path = dir.path().join(file);
        std::fs::copy(corpus_dir().join(file), &path).unwrap();
        let out = Command::new(common::bin())
            .args(["check", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{file}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["ok"], false);
        let got: BTreeSet<String> = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["level"] == "error")
            .map(|p| {
                format!(
                    "{} {}:{}",
                    p["code"].as_str().unwrap(),
                    p["line"],
                    p["column"]
                )
            })
            .collect();
        assert_eq!(&got, expected.get(file).unwrap(), "{file}");

        let out = Command::new(common::bin())
            .arg("check")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stderr);
        for want in expected.get(file).unwrap() {
            let (code, at) = want.split_once(' ').unwrap();
            assert!(text.contains(code), "{file}: {code} missing from:\n{text}");
            assert!(
                text.contains(&format!("{file}:{at}")),
                "{file}: location {at} missing from:\n{text}"
            );
        }
        assert!(!text.contains('\u{1b}'), "NO_COLOR output has escape codes");
    }
}

#[test]
fn a_manifest_nested_1500_deep_is_a_diagnostic_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.kdl");
    let mut text = String::from("app \"deep\"\n");
    for _ in 0..1500 {
        text.push_str("a {\n");
    }
    for _ in 0..1500 {
        text.push_str("}\n");
    }
    std::fs::write(&path, &text).unwrap();
    for args in [&["check", "--json"][..], &["build", "--json"][..]] {
        let out = Command::new(common::bin())
            .args(args)
            .arg(&path)
            .output()
            .unwrap();
        // 1, not a signal (an abort on stack overflow has no exit code).
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = json["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{json}");
        assert_eq!(problems[0]["code"], "manifest::too-deep");
        // The 65th `{` opens on line 66 (after the app line), column 3.
        assert_eq!(
            (problems[0]["line"].as_u64(), problems[0]["column"].as_u64()),
            (Some(66), Some(3))
        );
    }
}

/// `oci://foo/Repo:1` once passed `check` and failed `build`: two grammars. Now both refuse it while
/// reading the manifest, in the words of the OCI crate's one parser.
#[test]
fn check_and_build_refuse_a_bad_oci_reference_with_the_oci_crates_words() {
    let file = "47-oci-reference-build-refused.kdl";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::copy(corpus_dir().join(file), &path).unwrap();
    let want = mod_wasm_oci::OciReference::parse("oci://foo/Repo:1")
        .unwrap_err()
        .to_string();
    let fake_so = common::fake_mod_wasm_so(dir.path());
    for command in ["check", "build"] {
        let out = Command::new(common::bin())
            .args([command, "--json"])
            .arg(&path)
            .env("MOD_WASM_SO", &fake_so)
            .env(common::CACHE_ENV, dir.path().join("cache"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = json["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{command}: {json}");
        assert_eq!(problems[0]["code"], "manifest::source", "{command}");
        assert_eq!(problems[0]["message"], want.as_str(), "{command}");
    }
    assert!(!dir.path().join("bundle").exists());
}

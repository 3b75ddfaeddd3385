//! The directive table is the one truth: `mod_wasm.c`'s command table and the generated parts of
//! `docs/directives.md` and `docs/manifest.md` must match it.
//!
//! Regenerate the docs after changing the table with `make docs` (this test with
//! `MOD_WASM_BLESS_DOCS=1`).

use std::collections::BTreeMap;
use std::path::Path;

use wasm_runtime::directives::{Context, DIRECTIVES, directives_markdown, find, manifest_markdown};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// One `AP_INIT_*("Name", setter, data, context, "help" "help…")` entry of mod_wasm.c.
#[derive(Debug)]
struct CommandRec {
    macro_name: String,
    context: String,
    help: String,
}

/// Parses mod_wasm.c's `wasm_cmds[]` (adjacent string literals joined, as C does).
fn command_table() -> BTreeMap<String, CommandRec> {
    let source = std::fs::read_to_string(repo().join("mod_wasm/mod_wasm.c")).unwrap();
    let start = source
        .find("static const command_rec wasm_cmds[]")
        .expect("a command table");
    let body = &source[start..source[start..].find("{NULL}").unwrap() + start];
    let mut table = BTreeMap::new();
    for entry in body.split("AP_INIT_").skip(1) {
        let macro_name = format!("AP_INIT_{}", &entry[..entry.find('(').unwrap()]);
        let strings: Vec<String> = literals(entry);
        let name = strings.first().cloned().expect("a name");
        let fields: Vec<&str> = entry.split(',').map(str::trim).collect();
        let context = fields
            .iter()
            .find(|f| ["OR_ALL", "RSRC_CONF", "ACCESS_CONF", "OR_OPTIONS"].contains(f))
            .unwrap_or(&"?")
            .to_string();
        let help = strings[1..].concat();
        table.insert(
            name,
            CommandRec {
                macro_name,
                context,
                help,
            },
        );
    }
    table
}

/// The string literals of one entry, adjacent ones joined.
fn literals(entry: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pos = 0;
    while let Some(open) = entry[pos..].find('"').map(|o| o + pos) {
        let close = entry[open + 1..].find('"').unwrap() + open + 1;
        let text = &entry[open + 1..close];
        if !out.is_empty() && entry[pos..open].trim().is_empty() {
            out.last_mut().unwrap().push_str(text);
        } else {
            out.push(text.to_string());
        }
        pos = close + 1;
    }
    out
}

#[test]
fn the_c_command_table_matches_the_directive_table() {
    let c = command_table();
    let rust: Vec<&str> = DIRECTIVES.iter().map(|d| d.name).collect();
    let c_names: Vec<&str> = c.keys().map(String::as_str).collect();
    let mut sorted = rust.clone();
    sorted.sort();
    assert_eq!(
        c_names, sorted,
        "mod_wasm.c and runtime/src/directives.rs list different directives"
    );
    for (name, rec) in &c {
        let d = find(name).unwrap();
        assert_eq!(rec.macro_name, d.arity.macro_name(), "{name}: arity");
        let context = match d.context {
            Context::Directory => "OR_ALL",
            Context::Server => "RSRC_CONF",
        };
        assert_eq!(rec.context, context, "{name}: context");
        assert_eq!(
            rec.help, d.doc,
            "{name}: the help string differs from the table's doc"
        );
    }
}

/// Compares the block between `<!-- BEGIN generated: TAG … -->` and `<!-- END generated: TAG -->`.
fn check_generated(file: &str, tag: &str, generated: &str) {
    let begin_marker =
        format!("<!-- BEGIN generated: {tag} (from runtime/src/directives.rs; `make docs`) -->");
    let end_marker = format!("<!-- END generated: {tag} -->");
    let path = repo().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = text
        .find(&begin_marker)
        .unwrap_or_else(|| panic!("{file} has no `{begin_marker}` marker"));
    let end = text
        .find(&end_marker)
        .unwrap_or_else(|| panic!("{file} has no `{end_marker}` marker"));
    let current = &text[begin + begin_marker.len()..end];
    let wanted = format!("\n{generated}");
    if current == wanted {
        return;
    }
    if std::env::var_os("MOD_WASM_BLESS_DOCS").is_some() {
        let updated = format!("{}{begin_marker}{wanted}{}", &text[..begin], &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!("{file} is out of date with runtime/src/directives.rs: run `make docs`");
}

#[test]
fn docs_directives_md_is_generated_from_the_table() {
    check_generated("docs/directives.md", "directives", &directives_markdown());
}

#[test]
fn docs_manifest_md_is_generated_from_the_table() {
    check_generated(
        "docs/manifest.md",
        "engine settings",
        &manifest_markdown(false),
    );
    check_generated(
        "docs/manifest.md",
        "route settings",
        &manifest_markdown(true),
    );
}

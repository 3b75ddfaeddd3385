//! `mod-wasm init [DIR]`: a working starter — `app.kdl`, a tiny hello module (`hello.wat`
//! and the `hello.wasm` compiled from it with the `wat` crate, so no Wasm toolchain is needed).

use std::path::Path;

use serde_json::json;

use crate::cli::InitArgs;
use crate::exit::CliError;
use crate::output::Output;

const BODY: &str = "Hello from WebAssembly!\n";

/// The starter module's WAT text: a WASI command writing a CGI response to stdout.
pub fn hello_wat() -> String {
    let response = format!("Content-Type: text/plain\r\n\r\n{BODY}");
    let escaped: String = response
        .bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'"' && b != b'\\' => (b as char).to_string(),
            _ => format!("\\{b:02x}"),
        })
        .collect();
    format!(
        r#";; hello.wat: the smallest mod-wasm endpoint. A WASI command: it writes a CGI
;; response (headers, blank line, body) to stdout and returns.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{escaped}")
  (func (export "_start")
    ;; one iovec at address 0: {{ buf = 64, len = {len} }}
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#,
        len = response.len()
    )
}

/// The starter manifest for app `name`.
pub fn starter_manifest(name: &str) -> String {
    format!(
        r#"// mod-wasm app manifest (KDL 2.0). Reference: docs/manifest.md
app "{name}"

engine {{
    opt-level "speed"
}}

// `mod-wasm up` listens here.
server listen="127.0.0.1:8080"

// hello.wasm is compiled from hello.wat (wat2wasm hello.wat).
module "hello" source="hello.wasm"

route "/hello" module="hello" {{
    cgi #true          // the module prints CGI headers, a blank line, then the body
    timeout "5s"
    memory-limit "64M"
}}
"#
    )
}

fn app_name(dir: &Path) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    if clean.is_empty() {
        "hello".into()
    } else {
        clean
    }
}

/// Runs `init`.
pub fn run(args: &InitArgs, out: &Output) -> Result<(), CliError> {
    let dir = &args.dir;
    let io = |what: &Path, e: std::io::Error| {
        CliError::user(miette::miette!(
            code = "init::write",
            "cannot write `{}`: {e}",
            what.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let manifest = dir.join("app.kdl");
    let wat_path = dir.join("hello.wat");
    let wasm_path = dir.join("hello.wasm");
    if !args.force
        && let Some(existing) = [&manifest, &wat_path, &wasm_path]
            .into_iter()
            .find(|p| p.exists())
    {
        return Err(CliError::user(miette::miette!(
            code = "init::exists",
            help = "pass --force to overwrite, or choose another folder: mod-wasm init myapp",
            "`{}` already exists",
            existing.display()
        )));
    }
    let wat_text = hello_wat();
    let wasm = wat::parse_str(&wat_text).map_err(|e| {
        CliError::internal(miette::miette!("the starter module does not assemble: {e}"))
    })?;
    std::fs::write(&wat_path, &wat_text).map_err(|e| io(&wat_path, e))?;
    std::fs::write(&wasm_path, &wasm).map_err(|e| io(&wasm_path, e))?;
    std::fs::write(&manifest, starter_manifest(&app_name(dir))).map_err(|e| io(&manifest, e))?;
    out.json(&json!({
        "ok": true,
        "manifest": manifest,
        "files": [&manifest, &wat_path, &wasm_path],
    }));
    out.result(format!(
        "Wrote {}, {} and {}.\nNext:\n  mod-wasm up {}\n  curl http://127.0.0.1:8080/hello",
        manifest.display(),
        wat_path.display(),
        wasm_path.display(),
        manifest.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_starter_module_assembles() {
        let wasm = wat::parse_str(super::hello_wat()).unwrap();
        assert_eq!(&wasm[..4], b"\0asm");
    }
}

//! `adapt-p1 IN.wasm OUT.wasm`: wraps a WASI preview 1 *command* core module into a
//! `wasi:cli/command` component.
//!
//! The module's `wasi_snapshot_preview1` imports are satisfied by the command adapter that ships
//! with wasmtime 48.0.8 (`wasi-preview1-component-adapter-provider`), the runtime that serves the
//! result: the component imports `wasi:cli`, `wasi:io`, `wasi:filesystem`… 0.2 and exports
//! `wasi:cli/run`, which calls the module's `_start`. The encoded component is validated before
//! it is written; the output is replaced atomically (a temporary file beside it, then a rename).
//!
//! The Makefile builds `build/components/NAME.wasm` from `build/wasm/NAME.wasm` with it.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::{env, fs, process};

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
};
use wit_component::ComponentEncoder;

const USAGE: &str = "usage: adapt-p1 IN.wasm OUT.wasm";

/// The component for the preview 1 command module `module`.
fn adapt(module: &[u8]) -> Result<Vec<u8>, String> {
    let component = ComponentEncoder::default()
        .module(module)
        .map_err(chain)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .map_err(chain)?
        .validate(true)
        .encode()
        .map_err(chain)?;
    Ok(component)
}

/// An encoder error with its causes (wit-component's errors carry context, shown by `{:#}`).
fn chain(err: impl std::fmt::Display) -> String {
    format!("{err:#}")
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Box<dyn Error>> {
    let mut tmp = PathBuf::from(path);
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", process::id()));
    tmp.set_file_name(tmp_name);
    fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename {} to {}: {e}", tmp.display(), path.display())
    })?;
    Ok(())
}

fn run(input: &Path, output: &Path) -> Result<(), Box<dyn Error>> {
    let module = fs::read(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let component = adapt(&module).map_err(|e| format!("{}: {e}", input.display()))?;
    write_atomically(output, &component)
}

fn main() {
    let args: Vec<PathBuf> = env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("{USAGE}");
        process::exit(2);
    };
    if let Err(err) = run(input, output) {
        eprintln!("adapt-p1: {err}");
        process::exit(1);
    }
}

//! The `mod-wasm` binary: everything is in the library; this maps the result to an exit code.

fn main() {
    std::process::exit(mod_wasm::main_with_args());
}

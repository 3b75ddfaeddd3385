//! Build script: mark the cdylib "nodelete".
//!
//! Apache unloads and reloads its modules on every restart. Wasmtime installs process-wide
//! signal handlers that live in this library's code, and the runtime (engine, compiled modules)
//! must survive restarts to be reused; so once loaded, this library must never be unmapped.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}

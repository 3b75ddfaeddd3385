//! OCI registry support for mod-wasm.

//! Errors of the runtime crate.

use thiserror::Error;

/// Everything that can go wrong outside a running request.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A setting (directive value, manifest value) is not valid.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// The engine could not be created.
    #[error("cannot create the Wasm engine: {0}")]
    Engine(String),
    /// A module file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is neither a Wasm module nor a precompiled module of ours.
    #[error("`{path}` is not a WebAssembly module: {reason}")]
    NotWasm {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The module is over a compile limit (checked before compiling).
    #[error("refusing to compile `{path}`: {reason}")]
    CompileLimit {
        /// The file.
        path: String,
        /// Which limit, the module's value and the limit.
        reason: String,
    },
    /// Compilation or validation failed.
    #[error("cannot compile `{path}`: {reason}")]
    Compile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A precompiled module was refused (digest, compatibility or format mismatch).
    #[error("refusing precompiled `{path}`: {reason}")]
    PrecompiledRefused {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The module does not fit the WASI command shape (imports, entry point).
    #[error("cannot link `{path}`: {reason}")]
    Link {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

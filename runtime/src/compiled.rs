//! A module's compiled code — a core module or a component, told apart by the binary — and what
//! each request instantiates from it, resolved once at load time.
//!
//! A component is served by what it exports: `wasi:http/incoming-handler` (the `wasi:http/proxy`
//! world: the request is handed over as wasi:http, no CGI) or `wasi:cli/run` (a command: the same
//! stdio and CGI semantics as a preview 1 command).

use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module, Precompiled};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::component_state::ComponentState;
use crate::request_state::RequestState;

/// Compiled code, before linking.
pub enum Compiled {
    /// A core WebAssembly module (a WASI preview 1 command).
    Module(Module),
    /// A WebAssembly component.
    Component(Component),
}

impl Compiled {
    /// Compiles `bytes`, a core module or a component.
    pub fn from_binary(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Compiled> {
        if wasmparser::Parser::is_component(bytes) {
            Component::from_binary(engine, bytes).map(Compiled::Component)
        } else {
            Module::from_binary(engine, bytes).map(Compiled::Module)
        }
    }

    /// Loads a precompiled image of either kind.
    ///
    /// # Safety
    /// `image` must be a `.cwasm` written by this engine's settings from a verified source: it
    /// is native code (see [`crate::precompiled::Sidecar::verify`]).
    pub unsafe fn deserialize(engine: &Engine, image: &[u8]) -> wasmtime::Result<Compiled> {
        // SAFETY: the caller vouches for the image.
        unsafe {
            match Engine::detect_precompiled(image) {
                Some(Precompiled::Component) => {
                    Component::deserialize(engine, image).map(Compiled::Component)
                }
                _ => Module::deserialize(engine, image).map(Compiled::Module),
            }
        }
    }

    /// The image to cache.
    pub fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        match self {
            Compiled::Module(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        }
    }
}

/// What a loaded module is, as wasm-status names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// A core module run as a WASI preview 1 command.
    Module,
    /// A component exporting `wasi:http/incoming-handler`.
    HttpComponent,
    /// A component exporting `wasi:cli/run`.
    CommandComponent,
}

impl ModuleKind {
    /// `module` or `component`.
    pub fn name(self) -> &'static str {
        match self {
            ModuleKind::Module => "module",
            ModuleKind::HttpComponent | ModuleKind::CommandComponent => "component",
        }
    }

    /// The world it is served as.
    pub fn world(self) -> &'static str {
        match self {
            ModuleKind::Module => "wasi preview 1 command",
            ModuleKind::HttpComponent => "wasi:http/proxy",
            ModuleKind::CommandComponent => "wasi:cli/command",
        }
    }
}

/// Linked code: imports resolved once; each request only instantiates.
pub enum Code {
    /// A core module.
    Core(InstancePre<RequestState>),
    /// A wasi:http handler component.
    Http(ProxyPre<ComponentState>),
    /// A wasi:cli command component.
    Command(CommandPre<ComponentState>),
}

impl Code {
    /// The kind of code.
    pub fn kind(&self) -> ModuleKind {
        match self {
            Code::Core(_) => ModuleKind::Module,
            Code::Http(_) => ModuleKind::HttpComponent,
            Code::Command(_) => ModuleKind::CommandComponent,
        }
    }
}

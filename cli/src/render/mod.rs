//! Rendering of the generated Apache configuration with minijinja: `wasm.conf` (the bundle's
//! `Include`-able fragment) and the standalone `httpd.conf` of `mod-wasm up`.
//!
//! The templates live in the repository's `templates/` folder and are compiled into the binary;
//! `--templates DIR` replaces any of them by a file of the same name in DIR.
//!
//! Belt and braces: whatever a template prints (`{{ … }}`, in a directive or in a comment) must
//! hold no control character — a newline would end the line and start a directive of the
//! value's choosing — so rendering fails instead ([`quote::control_character`]), whatever the
//! value's source and whatever checks it passed before.

pub mod context;
pub mod quote;

use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};

pub use context::{EngineContext, HttpdContext, RouteContext, WasmConfContext};

/// The bundle fragment template's file name.
pub const WASM_CONF: &str = "wasm.conf.j2";
/// The standalone server template's file name.
pub const HTTPD_CONF: &str = "httpd.conf.j2";

const BUILTIN: &[(&str, &str)] = &[
    (WASM_CONF, include_str!("../../../templates/wasm.conf.j2")),
    (HTTPD_CONF, include_str!("../../../templates/httpd.conf.j2")),
];

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An override template could not be read.
    #[error("cannot read template `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The template is broken or uses something the context lacks.
    #[error("template `{name}`: {source:#}")]
    Template {
        /// Template name.
        name: String,
        /// The cause.
        source: minijinja::Error,
    },
}

/// The templates to render with.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, each replaced by `DIR/NAME` when `overrides` is given and has it.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters"),
        );
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_formatter(|out, state, value| {
            if let Some(c) = quote::control_character(&value.to_string()) {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!(
                        "refusing to write a value with the control character {:?} into the configuration: {:?}",
                        c,
                        value.to_string()
                    ),
                ));
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_filter("q", |v: String| quote::quote(&v));
        env.add_filter("onoff", |v: bool| quote::on_off(v).to_string());
        for (name, builtin) in BUILTIN {
            let text = match overrides.map(|d| d.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|source| RenderError::Read { path, source })?,
                _ => builtin.to_string(),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|source| RenderError::Template {
                    name: name.to_string(),
                    source,
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: Value) -> Result<String, RenderError> {
        let err = |source| RenderError::Template {
            name: name.to_string(),
            source,
        };
        self.env
            .get_template(name)
            .map_err(err)?
            .render(context)
            .map_err(err)
    }

    /// The bundle's `wasm.conf`.
    pub fn wasm_conf(&self, context: &WasmConfContext) -> Result<String, RenderError> {
        self.render(WASM_CONF, Value::from(Serde(context)))
    }

    /// The standalone `httpd.conf`.
    pub fn httpd_conf(&self, context: &HttpdContext) -> Result<String, RenderError> {
        self.render(HTTPD_CONF, Value::from(Serde(context)))
    }
}

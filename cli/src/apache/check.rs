//! `apache2 -t`: validating a configuration before serving, with Apache's complaint turned into
//! a diagnostic that points at the offending line of the offending file.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// Apache refused a configuration.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("Apache refused the configuration")]
#[diagnostic(code(apache::config), help("{output}"))]
pub struct ConfigRefused {
    /// What Apache printed.
    pub output: String,
    /// The file Apache named, when it could be read.
    #[source_code]
    pub file: Option<NamedSource<Arc<String>>>,
    /// The line Apache named.
    #[label("Apache stops here")]
    pub span: Option<SourceSpan>,
}

/// Apache could not be run at all.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("cannot run `{bin}`: {source}")]
#[diagnostic(
    code(apache::missing),
    help("install Apache httpd (Debian: apt-get install apache2)")
)]
pub struct CannotRun {
    /// The binary.
    pub bin: String,
    /// The cause.
    pub source: std::io::Error,
}

/// Runs `apache -t -f conf`; `Ok` when Apache accepts it.
pub fn config_test(apache: &Path, conf: &Path) -> Result<(), miette::Report> {
    let output = Command::new(apache)
        .arg("-t")
        .arg("-f")
        .arg(conf)
        .env_remove("HTTP_PROXY")
        .output()
        .map_err(|source| CannotRun {
            bin: apache.display().to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(refused(&text).into())
}

/// Turns Apache's `… on line N of FILE: …` into a located diagnostic when possible.
pub fn refused(output: &str) -> ConfigRefused {
    let located = locate(output).and_then(|(line, file)| {
        let text = std::fs::read_to_string(&file).ok()?;
        let start: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let len = text[start..].find('\n').unwrap_or(text.len() - start);
        Some((
            NamedSource::new(file, Arc::new(text)),
            SourceSpan::from(start..start + len),
        ))
    });
    let (file, span) = match located {
        Some((s, span)) => (Some(s), Some(span)),
        None => (None, None),
    };
    ConfigRefused {
        output: output.to_string(),
        file,
        span,
    }
}

fn locate(output: &str) -> Option<(usize, String)> {
    let at = output.find(" on line ")?;
    let rest = &output[at + " on line ".len()..];
    let (line, rest) = rest.split_once(" of ")?;
    let line: usize = line.trim().parse().ok()?;
    let file = rest.split([':', '\n']).next()?.trim();
    Some((line, file.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_apache_names() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("x.conf");
        std::fs::write(&conf, "ServerName a\nBogus 1\n").unwrap();
        let output = format!(
            "AH00526: Syntax error on line 2 of {}:\nInvalid command 'Bogus'",
            conf.display()
        );
        let refused = refused(&output);
        assert_eq!(refused.span, Some(SourceSpan::from(13..20)));
        assert!(refused.file.is_some());
    }
}

//! How the CLI talks: status lines on stderr, results on stdout, JSON with `--json`,
//! miette diagnostics, a progress bar only on a terminal, colour unless `NO_COLOR`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::Checked;
use crate::problem::{Level, Problem, SourcedProblem};

/// Output settings from the global flags and the environment.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--quiet`.
    pub quiet: bool,
    /// `--verbose` count.
    pub verbose: u8,
    /// `--json`.
    pub json: bool,
    /// Colour allowed (a terminal and no `NO_COLOR`).
    pub color: bool,
}

impl Output {
    /// Settings for these flags; colour follows `NO_COLOR` and whether stderr is a terminal.
    pub fn new(quiet: bool, verbose: u8, json: bool) -> Output {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            quiet,
            verbose,
            json,
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// Installs the miette report handler for these settings.
    pub fn install_miette(&self) {
        let color = self.color;
        let _ = miette::set_hook(Box::new(move |_| {
            Box::new(
                miette::MietteHandlerOpts::new()
                    .color(color)
                    .unicode(color)
                    .context_lines(1)
                    .build(),
            )
        }));
    }

    /// A progress line on stderr (not with `--quiet` or `--json`).
    pub fn status(&self, message: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            eprintln!("{message}");
        }
    }

    /// Extra detail with `--verbose`.
    pub fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose > 0 && !self.json {
            eprintln!("{message}");
        }
    }

    /// A human result on stdout (not with `--quiet` or `--json`).
    pub fn result(&self, message: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            println!("{message}");
        }
    }

    /// A JSON document on stdout (only with `--json`).
    pub fn json(&self, value: &serde_json::Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("JSON serialises")
            );
        }
    }

    /// A progress bar of `len` steps, hidden unless stderr is a terminal and output is for people.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// Prints `problems` of the manifest in `checked` as diagnostics (errors always, warnings
    /// unless `--quiet`); nothing with `--json` (the command's JSON carries them).
    pub fn problems(&self, checked: &Checked, problems: &[Problem]) {
        if self.json {
            return;
        }
        let name = checked.manifest.display_name();
        for problem in problems {
            if problem.level == Level::Warning && self.quiet {
                continue;
            }
            let report = miette::Report::new(SourcedProblem::new(
                problem.clone(),
                &name,
                checked.manifest.text.clone(),
            ));
            eprintln!("{report:?}");
        }
    }

    /// The JSON form of `problems`.
    pub fn problems_json(checked: &Checked, problems: &[Problem]) -> serde_json::Value {
        let name = checked.manifest.display_name();
        serde_json::to_value(
            problems
                .iter()
                .map(|p| p.to_json(&name, &checked.manifest.text))
                .collect::<Vec<_>>(),
        )
        .expect("problems serialise")
    }
}
